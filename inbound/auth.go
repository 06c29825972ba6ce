package inbound

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
)

// maxDKIMSignatures bounds the signatures verified per message (each costs DNS and RSA time).
const maxDKIMSignatures = 5

// envelope is what the SMTP dialog told us about the sender.
type envelope struct {
	ip       net.IP
	helo     string
	mailFrom string // "" for the null reverse-path
}

// spfDomain is the domain SPF checked: the MAIL FROM domain, or the HELO name for the null
// reverse-path (RFC 7208 §2.4).
func (e envelope) spfDomain() string {
	if _, d, ok := strings.Cut(e.mailFrom, "@"); ok {
		return strings.ToLower(d)
	}
	return strings.ToLower(e.helo)
}

// dkimOutcome is the result of one DKIM signature.
type dkimOutcome struct {
	result     authres.ResultValue
	domain     string // d=
	identifier string // i=
	reason     string
}

// verdict gathers the results of every check for the Authentication-Results field.
type verdict struct {
	spf       authres.ResultValue
	spfReason string
	dkim      []dkimOutcome
	dmarc     dmarcOutcome
}

// checkAuth runs SPF and DKIM concurrently, then DMARC, all under ctx (which carries the
// overall DNS deadline). DNS failures become temperror results, never errors.
func (s *Server) checkAuth(ctx context.Context, env envelope, raw []byte, fields []field) verdict {
	var v verdict
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.spf, v.spfReason = s.checkSPF(ctx, env)
	}()
	v.dkim = s.checkDKIM(ctx, raw)
	wg.Wait()
	v.dmarc = s.checkDMARC(ctx, env, v, fromDomain(fields))
	return v
}

// checkSPF evaluates the sender's SPF policy (RFC 7208) with blitiri.com.ar/go/spf.
func (s *Server) checkSPF(ctx context.Context, env envelope) (authres.ResultValue, string) {
	if env.ip == nil || env.spfDomain() == "" {
		return authres.ResultNone, "no identity to check"
	}
	res, err := spf.CheckHostWithSender(env.ip, env.helo, env.mailFrom,
		spf.WithContext(ctx), spf.WithResolver(s.opts.Resolver))
	reason := ""
	if err != nil && res != spf.Pass {
		reason = err.Error()
	}
	s.log.Debug("spf", "result", string(res), "domain", env.spfDomain(), "detail", reason)
	return authres.ResultValue(res), reason
}

// checkDKIM verifies up to maxDKIMSignatures signatures (RFC 6376) with go-msgauth.
func (s *Server) checkDKIM(ctx context.Context, raw []byte) []dkimOutcome {
	opts := &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return s.opts.Resolver.LookupTXT(ctx, name) },
		MaxVerifications: maxDKIMSignatures,
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), opts)
	if err != nil && len(verifs) == 0 {
		s.log.Debug("dkim", "err", err)
		return []dkimOutcome{{result: authres.ResultPermError, reason: "unparsable message header"}}
	}
	out := make([]dkimOutcome, 0, len(verifs))
	for _, vf := range verifs {
		out = append(out, dkimOf(vf))
	}
	return out
}

// dkimOf classifies one verification.
func dkimOf(v *dkim.Verification) dkimOutcome {
	o := dkimOutcome{result: authres.ResultPass, domain: strings.ToLower(v.Domain), identifier: v.Identifier}
	switch {
	case v.Err == nil:
	case dkim.IsTempFail(v.Err):
		o.result, o.reason = authres.ResultTempError, v.Err.Error()
	case dkim.IsPermFail(v.Err):
		o.result, o.reason = authres.ResultPermError, v.Err.Error()
	default:
		o.result, o.reason = authres.ResultFail, v.Err.Error()
	}
	return o
}

// authResultsField formats the one Authentication-Results field we prepend (RFC 8601), one
// method per folded line, with its CRLF.
func authResultsField(authservID string, env envelope, v verdict) string {
	results := []authres.Result{spfResult(env, v)}
	if len(v.dkim) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range v.dkim {
		results = append(results, &authres.DKIMResult{Value: d.result, Reason: clean(d.reason),
			Domain: clean(d.domain), Identifier: clean(d.identifier)})
	}
	results = append(results, &authres.DMARCResult{Value: v.dmarc.result,
		Reason: clean(v.dmarc.reason), From: clean(v.dmarc.fromDomain)})
	var b strings.Builder
	b.WriteString("Authentication-Results: " + clean(authservID))
	for _, r := range results {
		one := authres.Format("x", []authres.Result{r}) // "x; method=value params"
		b.WriteString(";\r\n\t" + strings.TrimSpace(strings.TrimPrefix(one, "x; ")))
	}
	b.WriteString("\r\n")
	return b.String()
}

// spfResult is the SPF method result with its identity (RFC 8601 §2.7.2).
func spfResult(env envelope, v verdict) *authres.SPFResult {
	r := &authres.SPFResult{Value: v.spf, Reason: clean(v.spfReason)}
	if env.mailFrom != "" {
		r.From = clean(env.mailFrom)
	} else {
		r.Helo = clean(env.helo)
	}
	return r
}

// clean makes a string safe inside a header field: control characters (CR and LF above all)
// become spaces and the length is capped.
func clean(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
