package mta

import (
	"bytes"
	"context"
	"errors"
	"strings"
)

// REQUIRETLS (RFC 8689) and the TLS-Required header field.

// ErrRequireTLS: a REQUIRETLS message could not be relayed as it asks (no MTA-STS policy
// validates the recipient domain's MX hosts, or no host offers REQUIRETLS over verified TLS);
// the recipients bounce with 5.7.30.
var ErrRequireTLS = errors.New("mta: REQUIRETLS not possible")

// tlsOptional reports whether the message's header says "TLS-Required: No" (RFC 8689 §5):
// the sender prefers delivery to transport security, so MTA-STS policies are not enforced
// for it (STARTTLS stays opportunistic).
func tlsOptional(body []byte) bool {
	hdr := body
	if i := bytes.Index(body, []byte("\r\n\r\n")); i >= 0 {
		hdr = body[:i+2]
	}
	for line := range bytes.SplitSeq(hdr, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(name), "TLS-Required") {
			return strings.EqualFold(strings.TrimSpace(string(value)), "No")
		}
	}
	return false
}

// requireTLSHops applies REQUIRETLS to an MX route (RFC 8689 §4.2.1): the recipient domain
// must have an MTA-STS policy (a testing policy is enforced for this message); its listed MX
// hosts are tried with verified TLS. Without a policy (and DANE is not implemented) the
// recipients bounce with 5.7.30.
func (d *Deliverer) requireTLSHops(ctx context.Context, a *attempt, hops []hop) ([]hop, error) {
	hops, applied, err := d.daneHops(ctx, a, hops)
	if err != nil {
		return nil, err
	}
	if applied { // only the hosts DANE authenticates
		var kept []hop
		for _, h := range hops {
			if h.tls == TLSDANE {
				kept = append(kept, h)
			}
		}
		return kept, nil
	}
	if d.sts == nil {
		return nil, permanent("5.7.30", ErrRequireTLS,
			"REQUIRETLS: MTA-STS is off on this node, so no route to %s can be validated", a.lease.Domain)
	}
	lk, e := d.sts.lookup(ctx, a.lease.Domain)
	if e != nil {
		return nil, e
	}
	a.sts = &lk
	if lk.policy == nil {
		return nil, permanent("5.7.30", ErrRequireTLS,
			"REQUIRETLS: %s has no MTA-STS policy (or DANE) to validate its MX hosts", lk.domain)
	}
	enforced := *lk.policy
	enforced.Mode = STSEnforce
	lk.policy = &enforced
	return d.enforce(lk, hops)
}

// requireTLSUnmet is the error for a host that cannot take a REQUIRETLS message over this
// session: it does not offer REQUIRETLS after STARTTLS, or the session is not verified.
func requireTLSUnmet(c *conn, h hop) *Error {
	if !c.tls || (h.tls != TLSVerify && h.tls != TLSDANE) {
		e := permanent("5.7.30", ErrRequireTLS, "REQUIRETLS: the session to %s is not verified TLS", h.name)
		e.Host = h.name
		return e
	}
	if ok, _ := c.client.Extension("REQUIRETLS"); !ok {
		e := permanent("5.7.30", ErrRequireTLS, "REQUIRETLS: %s does not offer REQUIRETLS", h.name)
		e.Host = h.name
		return e
	}
	return nil
}

// secure applies the transport-security rules to a route: REQUIRETLS (RFC 8689) first, then
// the recipient domain's MTA-STS policy unless the message says "TLS-Required: No". A
// [[transport]] route is the operator's: MTA-STS does not apply, and a REQUIRETLS message
// goes to it only over TLS verified for the next hop's name.
func (d *Deliverer) secure(ctx context.Context, a *attempt, hops []hop) ([]hop, error) {
	if d.router.isTransport(a.lease.Domain) {
		if a.lease.RequireTLS {
			for i := range hops {
				hops[i].tls = TLSVerify
			}
		}
		return hops, nil
	}
	if a.lease.RequireTLS {
		return d.requireTLSHops(ctx, a, hops)
	}
	if tlsOptional(a.body) {
		return hops, nil
	}
	hops, applied, err := d.daneHops(ctx, a, hops)
	if applied || err != nil || d.sts == nil {
		return hops, err
	}
	return d.applySTS(ctx, a, hops)
}

// checkRequireTLS refuses a session that cannot carry the attempt's REQUIRETLS message; the
// session goes back to the pool for other mail.
func (d *Deliverer) checkRequireTLS(a *attempt, h hop, c *conn) *Error {
	if !a.lease.RequireTLS {
		return nil
	}
	e := requireTLSUnmet(c, h)
	if e != nil {
		d.pool.put(c)
	}
	return e
}
