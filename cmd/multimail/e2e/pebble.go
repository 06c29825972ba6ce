package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/internal/interoptest"
)

// PebbleVersion is the Let's Encrypt test CA the ACME tests run, through the Go module proxy.
const PebbleVersion = "v2.10.3"

var (
	pebbleOnce sync.Once
	pebbleBin  string
	pebbleErr  error
)

// pebbleBinary finds pebble: $MULTIMAIL_PEBBLE, then `pebble` on PATH, else it is built once
// with `go install github.com/letsencrypt/pebble/v2/cmd/pebble@PebbleVersion` into a
// directory under the temp dir kept between runs. No binary: skip (fail under
// MULTIMAIL_INTEROP=1).
func pebbleBinary(t testing.TB) string {
	t.Helper()
	pebbleOnce.Do(func() {
		if p := os.Getenv("MULTIMAIL_PEBBLE"); p != "" {
			pebbleBin = p
			return
		}
		if p, err := exec.LookPath("pebble"); err == nil {
			pebbleBin = p
			return
		}
		dir := filepath.Join(os.TempDir(), "multimail-pebble-"+PebbleVersion)
		bin := filepath.Join(dir, "pebble")
		if _, err := os.Stat(bin); err == nil {
			pebbleBin = bin
			return
		}
		cmd := exec.Command("go", "install", "github.com/letsencrypt/pebble/v2/cmd/pebble@"+PebbleVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			pebbleErr = fmt.Errorf("go install pebble@%s: %v\n%s", PebbleVersion, err, out)
			return
		}
		pebbleBin = bin
	})
	if pebbleBin == "" {
		interoptest.Missing(t, fmt.Sprintf("pebble (the ACME test CA) not available: %v", pebbleErr))
	}
	return pebbleBin
}

// Pebble is a running pebble ACME CA on 127.0.0.1.
type Pebble struct {
	Dir      string // directory URL
	CARoot   string // PEM file of the root of pebble's own HTTPS (for [tls] acme_ca_root)
	mgmt     string // management API address
	tlsRoots *x509.CertPool
}

// StartPebble runs pebble with its HTTP-01 and TLS-ALPN-01 validations aimed at httpPort and
// tlsPort (the node's acme_http and https listeners) and its DNS lookups at dnsAddr. It stops
// with the test.
func StartPebble(t testing.TB, dnsAddr string, httpPort, tlsPort int) *Pebble {
	t.Helper()
	bin := pebbleBinary(t)
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := pebbleServerCert(t)
	p := &Pebble{CARoot: filepath.Join(dir, "ca.pem"), tlsRoots: x509.NewCertPool()}
	p.tlsRoots.AppendCertsFromPEM(caPEM)
	for name, b := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	listen, mgmt := freeAddr(t), freeAddr(t)
	p.Dir, p.mgmt = "https://"+listen+"/dir", mgmt
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": filepath.Join(dir, "cert.pem"), "privateKey": filepath.Join(dir, "key.pem"),
		"httpPort": httpPort, "tlsPort": tlsPort, "ocspResponderURL": "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})
	client := p.client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(p.Dir)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-done:
			t.Fatalf("pebble exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not ready in 30 s: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Pebble) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.tlsRoots}}}
}

// IssuerRoots is the root of the certificates pebble issues in this run, from its
// management API (/roots/0): a new one every run.
func (p *Pebble) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.client().Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if resp.StatusCode != 200 || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble /roots/0: %d %s", resp.StatusCode, b)
	}
	return pool
}

// freeAddr is a free 127.0.0.1 port, released for the caller to bind.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// pebbleServerCert makes a CA and a certificate for 127.0.0.1 and localhost signed by it, for
// pebble's own HTTPS (directory and management API).
func pebbleServerCert(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "multimail test pebble CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
