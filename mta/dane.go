package mta

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"multimail.dev/multimail/dnsclient"
)

// DANE for SMTP (RFC 7672), with Options.DANE: the resolver validates DNSSEC and its AD bit
// is trusted. When the recipient domain's MX answer is validated (AD), each MX host's TLSA
// records (_port._tcp.host) are looked up; a host with usable records (usage 2 DANE-TA or 3
// DANE-EE) is dialled with STARTTLS required, SNI, and the chain checked against them, and
// the domain's MTA-STS policy is not applied (DANE beats MTA-STS, RFC 8461 §2).

// ErrDANE: the DANE requirements of an MX host could not be met (TLSA lookup failed, no
// record matches the certificate).
var ErrDANE = errors.New("mta: DANE not met")

// errTLSANoMatch: no TLSA record of the host matches its certificate chain (TLS-RPT
// tlsa-invalid).
var errTLSANoMatch = errors.New("no TLSA record matches the certificate chain")

// TLSDANE requires STARTTLS and a chain matching the hop's TLSA records (RFC 7672 §3).
const TLSDANE TLSPolicy = "dane"

// queryResolver is what DANE needs of the resolver: raw answers with the AD bit.
type queryResolver interface {
	Query(ctx context.Context, q dnsclient.Question) (*dnsclient.Result, error)
}

var _ queryResolver = (*dnsclient.Client)(nil)

// daneHops applies DANE to the MX hops of a domain: applied reports whether some hop has
// usable TLSA records (those hops get TLSDANE). A TLSA lookup that fails for a host of a
// signed domain makes that host unusable; when no host is left, the recipients are deferred.
func (d *Deliverer) daneHops(ctx context.Context, a *attempt, hops []hop) ([]hop, bool, error) {
	qr, ok := d.opts.Resolver.(queryResolver)
	if !d.opts.DANE || !ok {
		return hops, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	mx, err := qr.Query(ctx, dnsclient.Question{Name: dns.Fqdn(a.lease.Domain), Type: dns.TypeMX,
		Class: dns.ClassINET, DNSSECOK: true})
	if err != nil || !mx.AD {
		return hops, false, nil // an insecure (or implicit) MX: DANE does not apply
	}
	var kept []hop
	var lastErr error
	applied := false
	for _, h := range hops {
		name := "_" + strconv.Itoa(h.port) + "._tcp." + dns.Fqdn(h.name)
		res, err := qr.Query(ctx, dnsclient.Question{Name: name, Type: dns.TypeTLSA, Class: dns.ClassINET, DNSSECOK: true})
		if err != nil {
			lastErr = fmt.Errorf("TLSA lookup for %s failed: %v", h.name, err)
			if d.tlsrpt != nil {
				d.tlsrpt.count(TLSRPTPolicyDesc{PolicyType: "tlsa", PolicyDomain: a.lease.Domain,
					MXHost: []string{h.name}}, h.name, "", ResultDNSSECInvalid)
			}
			continue // RFC 7672 §2.2: a failed TLSA lookup makes the host unusable
		}
		if !res.AD {
			kept = append(kept, h)
			continue
		}
		var recs []*dns.TLSA
		for _, rr := range res.Msg.Answer {
			if t, ok := rr.(*dns.TLSA); ok && (t.Usage == 2 || t.Usage == 3) && t.Selector <= 1 && t.MatchingType <= 2 {
				recs = append(recs, t)
			}
		}
		if len(recs) > 0 {
			h.tls, applied = TLSDANE, true
			if a.tlsa == nil {
				a.tlsa = map[string][]*dns.TLSA{}
			}
			a.tlsa[h.name] = recs
		}
		kept = append(kept, h)
	}
	if len(kept) == 0 {
		e := temporary("4.7.5", ErrDANE, "DANE: no usable MX host for %s: %v", a.lease.Domain, lastErr)
		return nil, true, e
	}
	return kept, applied, nil
}

// verifyDANE checks a peer chain against TLSA records (RFC 7672 §3.1): DANE-EE (3) matches
// the leaf, name and dates ignored; DANE-TA (2) matches a certificate of the chain, which
// then anchors a PKIX check of the leaf for host.
func verifyDANE(certs []*x509.Certificate, host string, recs []*dns.TLSA) error {
	if len(certs) == 0 {
		return errors.New("DANE: no certificate")
	}
	for _, r := range recs {
		if r.Usage == 3 && r.Verify(certs[0]) == nil {
			return nil
		}
	}
	for _, r := range recs {
		if r.Usage != 2 {
			continue
		}
		for i, c := range certs {
			if r.Verify(c) != nil {
				continue
			}
			roots := x509.NewCertPool()
			roots.AddCert(c)
			inter := x509.NewCertPool()
			for _, m := range certs[1:i] {
				inter.AddCert(m)
			}
			if i == 0 {
				return nil // the leaf itself is the trust anchor
			}
			if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: strings.TrimSuffix(host, "."),
				Roots: roots, Intermediates: inter}); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("DANE: %s: %w", host, errTLSANoMatch)
}

// tlsaKey carries an attempt's TLSA records (by MX host name) to the dialer.
type tlsaKey struct{}

func withTLSA(ctx context.Context, m map[string][]*dns.TLSA) context.Context {
	if m == nil {
		return ctx
	}
	return context.WithValue(ctx, tlsaKey{}, m)
}

func tlsaFrom(ctx context.Context, host string) []*dns.TLSA {
	m, _ := ctx.Value(tlsaKey{}).(map[string][]*dns.TLSA)
	return m[host]
}
