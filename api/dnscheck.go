package api

// dnscheck.go: the MTA-STS policy served by Host, and GET /v1/admin/domains/{name}/check,
// which looks every record domain dns prints up live and says ok, missing or wrong.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"multimail.dev/multimail/api/wire"
)

// Resolver is what the domain check asks (the node's *dnsclient.Client; *net.Resolver too),
// with *net.Resolver's error contract: a *net.DNSError with IsNotFound for NXDOMAIN/NODATA.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// MTASTSPath is where an MTA-STS policy is served (RFC 8461 §3.3), on the host
// mta-sts.<domain>.
const MTASTSPath = "/.well-known/mta-sts.txt"

// mtaSTS serves the policy of the local domain named by the Host header (mta-sts.<domain>);
// any other host, or a domain that is not ours, is 404.
func (s *Server) mtaSTS(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	domain, ok := strings.CutPrefix(strings.TrimSuffix(host, "."), "mta-sts.")
	if !ok || s.opts.Store == nil {
		http.NotFound(w, r)
		return
	}
	if _, err := s.opts.Store.Domain(r.Context(), domain); err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "max-age=3600")
	_, _ = w.Write([]byte(mtaSTSPolicy(s.opts.Hostname)))
}

// checkTimeout bounds the whole check.
const checkTimeout = 20 * time.Second

// domainCheck is GET /v1/admin/domains/{name}/check.
func (s *Server) domainCheck(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.superAdmin() {
		return errNotAdmin("a domain's DNS check")
	}
	name, err := pathValue(r, "name")
	if err != nil {
		return err
	}
	d, err := s.opts.Store.Domain(r.Context(), strings.ToLower(name))
	if err != nil {
		return err
	}
	if s.opts.Resolver == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "no resolver configured"}
	}
	want, err := s.dnsRecords(d) // dnspools.go: with the IP pools
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	out := wire.DomainCheck{Domain: d.Name, OK: true}
	if sv, ok := s.opts.Resolver.(interface{ Servers() []string }); ok {
		out.Resolver = sv.Servers()
	}
	for _, rec := range want.Records {
		out.Records = append(out.Records, s.checkRecord(ctx, rec))
	}
	out.Records = append(out.Records, s.checkPTR(ctx))
	for _, c := range out.Records {
		if c.Result != "ok" {
			out.OK = false
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkRecord looks one record up and compares it with what domain dns prints.
func (s *Server) checkRecord(ctx context.Context, rec wire.DNSRecord) wire.RecordCheck {
	if rec.Purpose == purposePoolPTR || rec.Purpose == purposePoolHELO {
		return s.checkPoolRecord(ctx, rec) // dnspools.go
	}
	c := wire.RecordCheck{Purpose: rec.Purpose, Name: rec.Name, Type: rec.Type, Expected: rec.Value, Found: []string{}}
	switch rec.Type {
	case "MX":
		mxs, err := s.opts.Resolver.LookupMX(ctx, rec.Name)
		if lookupFailed(&c, err) {
			return c
		}
		_, host, _ := strings.Cut(rec.Value, " ")
		for _, mx := range mxs {
			c.Found = append(c.Found, formatMX(mx))
			if strings.EqualFold(dotted(mx.Host), dotted(host)) {
				c.Result = "ok"
			}
		}
		if c.Result == "" {
			c.Result, c.Detail = "wrong", "no MX names "+host
		}
	case "CNAME":
		// The mta-sts host: it must reach this host, by CNAME or by its own addresses.
		got, err := s.opts.Resolver.LookupIPAddr(ctx, strings.TrimSuffix(rec.Name, "."))
		if lookupFailed(&c, err) {
			return c
		}
		ours, err := s.opts.Resolver.LookupIPAddr(ctx, strings.TrimSuffix(rec.Value, "."))
		if err != nil {
			c.Result, c.Detail = "error", "cannot resolve "+rec.Value+": "+err.Error()
			return c
		}
		for _, a := range got {
			c.Found = append(c.Found, a.IP.String())
		}
		c.Result, c.Detail = "wrong", "its addresses are not those of "+rec.Value
		for _, a := range got {
			if slices.ContainsFunc(ours, func(b net.IPAddr) bool { return a.IP.Equal(b.IP) }) {
				c.Result, c.Detail = "ok", ""
			}
		}
	default: // TXT
		txts, err := s.opts.Resolver.LookupTXT(ctx, rec.Name)
		if lookupFailed(&c, err) {
			return c
		}
		c.Result, c.Detail = compareTXT(rec.Purpose, rec.Value, txts, &c.Found)
		if m := spfCoversPools(rec.Value, strings.Join(c.Found, " ")); rec.Purpose == "spf" && c.Result == "ok" && m != "" {
			c.Result, c.Detail = "wrong", "the SPF record does not allow the ip_pool address "+m // dnspools.go
		}
	}
	return c
}

// compareTXT finds the record of the same kind (its v= tag) among txts and compares it with
// want: missing when none is there, wrong when it differs where it matters.
func compareTXT(purpose, want string, txts []string, found *[]string) (string, string) {
	wantTags := tagList(want)
	version := strings.ToLower(wantTags["v"])
	var same []string
	for _, t := range txts {
		*found = append(*found, t)
		if purpose == "spf" {
			if f := strings.Fields(strings.ToLower(t)); len(f) > 0 && f[0] == "v=spf1" {
				same = append(same, t)
			}
			continue
		}
		if purpose == "dkim" || purpose == "identity" || strings.EqualFold(tagList(t)["v"], version) {
			same = append(same, t)
		}
	}
	if len(same) == 0 {
		return "missing", "no " + strings.ToUpper(purpose) + " record among the TXT records"
	}
	if len(same) > 1 && (purpose == "spf" || purpose == "dmarc" || purpose == "mta-sts" || purpose == "tls-rpt") {
		return "wrong", "more than one record: receivers treat that as none"
	}
	got := same[0]
	switch purpose {
	case "spf":
		// Other mechanisms may be there too; ours (mx) must be, and an ending all.
		f := strings.Fields(strings.ToLower(got))
		if !slices.Contains(f, "mx") && !slices.Contains(f, "+mx") {
			return "wrong", "the SPF record does not allow this domain's MX hosts (mx)"
		}
		if !slices.ContainsFunc(f, func(m string) bool { return strings.HasSuffix(m, "all") || strings.HasPrefix(m, "redirect=") }) {
			return "wrong", "the SPF record has no all mechanism"
		}
		return "ok", ""
	case "dmarc":
		p := strings.ToLower(tagList(got)["p"])
		if p != "none" && p != "quarantine" && p != "reject" {
			return "wrong", "no valid p= policy"
		}
		return "ok", ""
	case "tls-rpt":
		if !strings.Contains(tagList(got)["rua"], "mailto:") && !strings.Contains(tagList(got)["rua"], "https:") {
			return "wrong", "no rua= to send reports to"
		}
		return "ok", ""
	}
	// DKIM, identity, MTA-STS: every tag we publish must have our value (p= compared
	// without whitespace, as verifiers do).
	gotTags := tagList(got)
	for k, v := range wantTags {
		if gotTags[k] != v {
			if k == "p" {
				return "wrong", "a different public key (p=)"
			}
			return "wrong", k + "=" + gotTags[k] + ", want " + k + "=" + v
		}
	}
	return "ok", ""
}

// tagList parses "k=v; k=v" (RFC 6376 §3.2); whitespace inside values is removed.
func tagList(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		v = strings.Join(strings.Fields(v), "")
		out[strings.ToLower(strings.TrimSpace(k))] = v
	}
	return out
}

// checkPTR checks the reverse DNS advice: every address of the host names it back.
func (s *Server) checkPTR(ctx context.Context) wire.RecordCheck {
	host := dotted(s.opts.Hostname)
	c := wire.RecordCheck{Purpose: "ptr", Name: host, Type: "PTR", Expected: host, Found: []string{}}
	addrs, err := s.opts.Resolver.LookupIPAddr(ctx, strings.TrimSuffix(host, "."))
	if lookupFailed(&c, err) {
		c.Detail = host + " has no A/AAAA records: " + c.Detail
		return c
	}
	c.Result = "ok"
	for _, a := range addrs {
		names, err := s.opts.Resolver.LookupAddr(ctx, a.IP.String())
		if err != nil {
			c.Found = append(c.Found, a.IP.String()+" -> (none)")
			c.Result, c.Detail = "missing", a.IP.String()+" has no PTR record: ask whoever owns the address (the hosting provider)"
			continue
		}
		ok := false
		for _, n := range names {
			c.Found = append(c.Found, a.IP.String()+" -> "+n)
			ok = ok || strings.EqualFold(dotted(n), host)
		}
		if !ok && c.Result == "ok" {
			c.Result, c.Detail = "wrong", a.IP.String()+" does not name "+host
		}
	}
	return c
}

// lookupFailed fills c for a failed lookup and reports whether it failed.
func lookupFailed(c *wire.RecordCheck, err error) bool {
	if err == nil {
		return false
	}
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		c.Result, c.Detail = "missing", "no such record"
	} else {
		c.Result, c.Detail = "error", err.Error()
	}
	return true
}

func dotted(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) + "." }

func formatMX(mx *net.MX) string {
	return strings.Join([]string{itoa(int(mx.Pref)), mx.Host}, " ")
}
