// acme.go: certificates from an ACME CA ([tls] acme = true) through golang.org/x/crypto's
// autocert: obtained on first use (and at start, for the host name), renewed 30 days before
// they expire, kept in data_dir/acme (0700). Every TLS listener (STARTTLS on 25, 587 and 143,
// implicit TLS on 465, 993 and 443) asks for its certificate here.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"multimail.dev/multimail/mailbox"
)

// defaultACMEDirectory is Let's Encrypt's production directory.
const defaultACMEDirectory = autocert.DefaultACMEDirectory

// acmeDir is the certificate cache under data_dir: the account key, certificates and keys.
const acmeDir = "acme"

// acmeCerts obtains and serves ACME certificates.
type acmeCerts struct {
	m        *autocert.Manager
	hostname string
	names    []string // hostname and [tls] acme_names, lower case
	store    mailbox.Store
	log      *slog.Logger
}

func (c *Config) validateACME() error {
	t := c.TLS
	if !t.ACME {
		switch {
		case t.ACMEEmail != "" || t.ACMEDirectory != "" || len(t.ACMENames) > 0 || t.ACMECARoot != "":
			return bad("tls.acme", "the acme_* keys need acme = true")
		case c.Listen.ACMEHTTP != "":
			return bad("listen.acme_http", "answers ACME HTTP-01 challenges: needs [tls] acme = true")
		}
		return nil
	}
	if t.Cert != "" {
		return bad("tls.acme", "set either acme = true or cert and key, not both")
	}
	if !strings.Contains(strings.Trim(c.Hostname, "."), ".") {
		return bad("hostname", "ACME certificates need a fully qualified host name, got %q", c.Hostname)
	}
	if c.Listen.HTTPS == "" && c.Listen.ACMEHTTP == "" {
		return bad("tls.acme", "the CA must reach listen.https (TLS-ALPN-01, port 443) or listen.acme_http (HTTP-01, port 80); set one")
	}
	if t.ACMEDirectory != "" {
		if u, err := url.Parse(t.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			return bad("tls.acme_directory", "want an https URL, got %q", t.ACMEDirectory)
		}
	}
	if t.ACMEEmail != "" && (!strings.Contains(t.ACMEEmail, "@") || strings.ContainsAny(t.ACMEEmail, " \t\r\n<>")) {
		return bad("tls.acme_email", "want an email address, got %q", t.ACMEEmail)
	}
	for i, n := range t.ACMENames {
		if !domainName.MatchString(n) || !strings.Contains(n, ".") {
			return bad(fmt.Sprintf("tls.acme_names[%d]", i), "not a fully qualified domain name: %q", n)
		}
	}
	return nil
}

// newACME makes the certificate manager. Enabling ACME accepts the CA's terms of service.
func newACME(c *Config, store mailbox.Store, log *slog.Logger) (*acmeCerts, error) {
	dir := c.TLS.ACMEDirectory
	if dir == "" {
		dir = defaultACMEDirectory
	}
	client := &acme.Client{DirectoryURL: dir, UserAgent: "multimail/" + version}
	if c.TLS.ACMECARoot != "" {
		pemRoots, err := os.ReadFile(c.TLS.ACMECARoot)
		if err != nil {
			return nil, fmt.Errorf("tls.acme_ca_root: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemRoots) {
			return nil, fmt.Errorf("tls.acme_ca_root: no PEM certificate in %s", c.TLS.ACMECARoot)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		client.HTTPClient = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	a := &acmeCerts{hostname: strings.ToLower(strings.TrimSuffix(c.Hostname, ".")), store: store,
		log: log.With("component", "acme")}
	a.names = []string{a.hostname}
	for _, n := range c.TLS.ACMENames {
		a.names = append(a.names, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	a.m = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(filepath.Join(c.DataDir, acmeDir)),
		HostPolicy: a.policy,
		Client:     client,
		Email:      c.TLS.ACMEEmail,
	}
	return a, nil
}

// policy allows the host name, [tls] acme_names and mta-sts.<domain> of every local domain
// (looked up at each request, so a domain added at run time is covered). Any other name is
// never asked of the CA, whatever SNI a client sends.
func (a *acmeCerts) policy(ctx context.Context, host string) error {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if slices.Contains(a.names, host) {
		return nil
	}
	if d, ok := strings.CutPrefix(host, "mta-sts."); ok && d != "" {
		if _, err := a.store.Domain(ctx, d); err == nil {
			return nil
		}
	}
	return fmt.Errorf("acme: %q is not a name of this node", host)
}

// getCertificate is every TLS listener's GetCertificate. autocert refuses a handshake
// without SNI, which many MTAs and IMAP clients make, and one naming something else (an IP
// address, an old name): both get the host name's certificate. ACME TLS-ALPN-01 challenge
// handshakes go to autocert as they are.
func (a *acmeCerts) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	challenge := len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto
	ctx := hello.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if !challenge && (hello.ServerName == "" || a.policy(ctx, hello.ServerName) != nil) {
		h := *hello
		h.ServerName = a.hostname
		hello = &h
	}
	return a.m.GetCertificate(hello)
}

// tlsConfig is the TLS config of every listener; https adds the TLS-ALPN-01 protocol.
func (a *acmeCerts) tlsConfig(alpnChallenge bool) *tls.Config {
	c := &tls.Config{GetCertificate: a.getCertificate, MinVersion: tls.VersionTLS12}
	if alpnChallenge {
		c.NextProtos = []string{"h2", "http/1.1", acme.ALPNProto}
	}
	return c
}

// httpHandler answers HTTP-01 challenges and redirects everything else to https.
func (a *acmeCerts) httpHandler() http.Handler { return a.m.HTTPHandler(nil) }

// warm obtains (or loads) the host name's certificate at start, so the first client does not
// wait for the CA, and logs the outcome; it retries with backoff until it has one.
func (a *acmeCerts) warm(ctx context.Context) error {
	delay := 30 * time.Second
	for {
		hello := &tls.ClientHelloInfo{
			ServerName:        a.hostname,
			SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedCurves:   []tls.CurveID{tls.CurveP256},
			CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		}
		cert, err := a.m.GetCertificate(hello)
		if err == nil && cert.Leaf != nil {
			a.log.Info("ACME certificate ready", "name", a.hostname, "issuer", cert.Leaf.Issuer.String(),
				"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
			return nil
		}
		if err == nil {
			a.log.Info("ACME certificate ready", "name", a.hostname)
			return nil
		}
		a.log.Error("ACME certificate not obtained; TLS handshakes will retry", "name", a.hostname, "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, time.Hour)
	}
}
