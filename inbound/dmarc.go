package inbound

import (
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// Policy actions taken on a DMARC failure.
const (
	actionNone       = ""
	actionQuarantine = "quarantine" // delivered to Junk
	actionReject     = "reject"     // refused with 550 5.7.1
)

// dmarcOutcome is the DMARC evaluation of one message (RFC 7489 §6.6).
type dmarcOutcome struct {
	result     authres.ResultValue
	fromDomain string
	policy     dmarc.Policy // the policy that applies (p=, or sp= for a subdomain)
	action     string       // what we do about a failure
	reason     string
}

// checkDMARC looks up the From domain's policy (falling back to its organizational domain,
// RFC 7489 §6.6.3) and checks that SPF or DKIM passed for an aligned domain (§3.1).
func (s *Server) checkDMARC(ctx context.Context, env envelope, v verdict, from string) dmarcOutcome {
	o := dmarcOutcome{result: authres.ResultNone, fromDomain: from}
	if from == "" {
		o.reason = "no single From domain"
		return o
	}
	rec, sub, err := s.lookupDMARC(ctx, from)
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return o
	case dmarc.IsTempFail(err):
		o.result, o.reason = authres.ResultTempError, "policy lookup failed"
		return o
	case err != nil:
		o.result, o.reason = authres.ResultPermError, "unparsable policy"
		return o
	}
	o.policy = rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		o.policy = rec.SubdomainPolicy
	}
	if aligned(env, v, from, rec) {
		o.result = authres.ResultPass
		return o
	}
	o.result = authres.ResultFail
	o.action = failAction(o.policy, rec.Percent)
	o.reason = "p=" + string(o.policy)
	return o
}

// lookupDMARC finds the policy record of domain, or else of its organizational domain; sub
// reports the latter.
func (s *Server) lookupDMARC(ctx context.Context, domain string) (*dmarc.Record, bool, error) {
	opts := &dmarc.LookupOptions{LookupTXT: func(name string) ([]string, error) {
		return s.opts.Resolver.LookupTXT(ctx, name)
	}}
	rec, err := dmarc.LookupWithOptions(domain, opts)
	org := orgDomain(domain)
	if !errors.Is(err, dmarc.ErrNoPolicy) || org == domain {
		return rec, false, err
	}
	rec, err = dmarc.LookupWithOptions(org, opts)
	return rec, true, err
}

// aligned reports whether SPF or one DKIM signature passed for a domain aligned with the From
// domain: the same domain in strict mode, the same organizational domain in relaxed mode.
func aligned(env envelope, v verdict, from string, rec *dmarc.Record) bool {
	if v.spf == authres.ResultPass && env.mailFrom != "" &&
		alignedDomain(env.spfDomain(), from, rec.SPFAlignment) {
		return true
	}
	for _, d := range v.dkim {
		if d.result == authres.ResultPass && alignedDomain(d.domain, from, rec.DKIMAlignment) {
			return true
		}
	}
	return false
}

// alignedDomain compares an authenticated domain with the From domain (RFC 7489 §3.1).
func alignedDomain(auth, from string, mode dmarc.AlignmentMode) bool {
	auth, from = strings.ToLower(auth), strings.ToLower(from)
	if mode == dmarc.AlignmentStrict {
		return auth == from
	}
	return orgDomain(auth) == orgDomain(from)
}

// orgDomain is the organizational domain (RFC 7489 §3.2): the public suffix plus one label.
func orgDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// failAction is our policy on a DMARC failure: reject for p=reject and quarantine (to Junk)
// for p=quarantine, as a mature receiver does; a pct= below 100 downgrades to delivering
// with the failure recorded, so that a domain sampling its rollout is never over-enforced.
func failAction(p dmarc.Policy, pct *int) string {
	if pct != nil && *pct < 100 {
		return actionNone
	}
	switch p {
	case dmarc.PolicyReject:
		return actionReject
	case dmarc.PolicyQuarantine:
		return actionQuarantine
	}
	return actionNone
}
