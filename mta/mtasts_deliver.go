package mta

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
)

// applySTS looks up the recipient domain's MTA-STS policy and applies it to the MX hops:
// under enforce only the MX hosts the policy lists remain, each with TLSVerify; when none
// remains the recipients are deferred (ErrSTSPolicy). Under testing and without a policy the
// hops are unchanged and the sessions are only reported (TLS-RPT).
func (d *Deliverer) applySTS(ctx context.Context, a *attempt, hops []hop) ([]hop, error) {
	lk, e := d.sts.lookup(ctx, a.lease.Domain)
	if e != nil {
		return nil, e
	}
	a.sts = &lk
	if lk.fetchErr != nil && d.tlsrpt != nil {
		d.tlsrpt.fetchFailure(lk)
	}
	if lk.policy == nil || lk.policy.Mode != STSEnforce {
		return hops, nil
	}
	return d.enforce(lk, hops)
}

// enforce keeps the hops lk's policy lists, each with TLSVerify; none left defers.
func (d *Deliverer) enforce(lk stsLookup, hops []hop) ([]hop, error) {
	var kept []hop
	var names []string
	for _, h := range hops {
		names = append(names, h.name)
		if lk.policy.MatchesMX(h.name) {
			h.tls = TLSVerify
			kept = append(kept, h)
		}
	}
	if len(kept) == 0 {
		if d.tlsrpt != nil {
			for _, h := range hops {
				d.tlsrpt.session(lk, h.name, "", ResultValidationFailure)
			}
		}
		e := temporary("4.7.0", ErrSTSPolicy,
			"MTA-STS policy of %s (mode enforce, id %s) lists none of its MX hosts %s (policy mx: %s); deferred",
			lk.domain, lk.id, strings.Join(names, ", "), strings.Join(lk.policy.MX, ", "))
		return nil, e
	}
	return kept, nil
}

// TLS-RPT result types (RFC 8460 §4.3) this package reports.
const (
	ResultSTARTTLSNotSupported = "starttls-not-supported"
	ResultCertHostMismatch     = "certificate-host-mismatch"
	ResultCertExpired          = "certificate-expired"
	ResultCertNotTrusted       = "certificate-not-trusted"
	ResultValidationFailure    = "validation-failure"
	ResultSTSPolicyFetch       = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid     = "sts-policy-invalid"
	ResultSTSWebPKIInvalid     = "sts-webpki-invalid"
	ResultTLSAInvalid          = "tlsa-invalid"   // DANE: no TLSA record matches the chain
	ResultDNSSECInvalid        = "dnssec-invalid" // DANE: the TLSA lookup of a signed domain failed (bogus, SERVFAIL)
)

// reportSession records one new session (or its failure to start) for TLS-RPT. Under an
// enforce policy the handshake itself verified; under testing the peer's chain is verified
// here, only to be reported.
func (d *Deliverer) reportSession(a *attempt, h hop, addr string, c *conn, err error) {
	if d.tlsrpt != nil && h.tls == TLSDANE {
		d.reportDANE(a, h, addr, c, err)
		return
	}
	if d.tlsrpt == nil || a.sts == nil {
		return
	}
	lk := *a.sts
	ip, _, _ := net.SplitHostPort(addr)
	if err != nil {
		if t := tlsFailureType(err); t != "" {
			d.tlsrpt.session(lk, h.name, ip, t)
		}
		return
	}
	switch {
	case lk.policy == nil:
		d.tlsrpt.session(lk, h.name, ip, "")
	case !c.tls:
		d.tlsrpt.session(lk, h.name, ip, ResultSTARTTLSNotSupported)
	case h.tls == TLSVerify:
		d.tlsrpt.session(lk, h.name, ip, "")
	case !lk.policy.MatchesMX(h.name):
		d.tlsrpt.session(lk, h.name, ip, ResultValidationFailure)
	default:
		d.tlsrpt.session(lk, h.name, ip, certFailureType(verifyChain(c.certs, h.name, d.dialer.verifyRoots)))
	}
}

// reportDANE records one new session to a host with usable TLSA records under its "tlsa"
// policy: the handshake itself checked the records, so a session is a success.
func (d *Deliverer) reportDANE(a *attempt, h hop, addr string, c *conn, err error) {
	desc := tlsaDesc(a.lease.Domain, h.name, a.tlsa[h.name])
	ip, _, _ := net.SplitHostPort(addr)
	switch {
	case err == nil && c.tls:
		d.tlsrpt.count(desc, h.name, ip, "")
	case err == nil:
		d.tlsrpt.count(desc, h.name, ip, ResultSTARTTLSNotSupported)
	case errors.Is(err, errTLSANoMatch):
		d.tlsrpt.count(desc, h.name, ip, ResultTLSAInvalid)
	default:
		if t := tlsFailureType(err); t != "" {
			d.tlsrpt.count(desc, h.name, ip, t)
		}
	}
}

// verifyChain checks a peer chain for host against roots (nil: the system's).
func verifyChain(certs []*x509.Certificate, host string, roots *x509.CertPool) error {
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
}

// tlsFailureType maps a session error to a TLS-RPT result type; "" when it is not a TLS
// failure (a refused connection is not reported).
func tlsFailureType(err error) string {
	switch {
	case errors.Is(err, ErrTLSUnavailable):
		return ResultSTARTTLSNotSupported
	case errors.Is(err, ErrTLSFailed):
		if t := certFailureType(err); t != "" {
			return t
		}
		return ResultValidationFailure
	}
	return ""
}

// certFailureType classifies a certificate verification error; "" for nil.
func certFailureType(err error) string {
	var (
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		unknown x509.UnknownAuthorityError
		verr    *tls.CertificateVerificationError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &host):
		return ResultCertHostMismatch
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return ResultCertExpired
	case errors.As(err, &unknown):
		return ResultCertNotTrusted
	case errors.As(err, &verr):
		return ResultValidationFailure
	}
	return ResultValidationFailure
}

// newTransportSecurity builds the MTA-STS manager and the TLS-RPT recorder from the options.
func (d *Deliverer) newTransportSecurity() error {
	if d.opts.MTASTS == nil {
		if d.opts.TLSRPT != nil {
			return errors.New("mta: TLS-RPT needs MTA-STS (Options.MTASTS)")
		}
		return nil
	}
	m, err := newSTSManager(*d.opts.MTASTS, d.opts.Resolver, d.opts.Clock, d.log.With("component", "mta-sts"))
	if err != nil {
		return err
	}
	d.sts = m
	if d.opts.TLSRPT == nil {
		return nil
	}
	o := *d.opts.TLSRPT
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: m.fetcher.client.Transport, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	d.tlsrpt, err = newTLSRPT(o, d.opts.Hostname, d.opts.Resolver, d.opts.Clock, d.log.With("component", "tlsrpt"))
	return err
}

// TLSReports makes the TLS-RPT reports of day ("2006-01-02", UTC; the running day gives the
// counts so far), writes them to TLSRPTOptions.Dir/day/<policy domain>.json and, when send
// is true, sends them to each domain's rua. It fails when TLS-RPT is off.
func (d *Deliverer) TLSReports(ctx context.Context, day string, send bool) ([]*TLSReport, error) {
	if d.tlsrpt == nil {
		return nil, errors.New("mta: TLS-RPT is off")
	}
	return d.tlsrpt.report(ctx, day, send)
}
