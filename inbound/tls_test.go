package inbound

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// selfSigned returns a server TLS config with a fresh certificate for testHost.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: testHost},
		DNSNames: []string{testHost}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.TLSConfig = selfSigned(t) })
	c, err := smtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true}) // self-signed test cert
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered on the inbound port")
	}
	msg := plainMessage("a@pass.example", "tls", "x")
	if err := c.SendMail("a@pass.example", []string{"agent@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	ems, _, err := e.store.Query(t.Context(), queryAll("agent@example.com"))
	if err != nil || len(ems) != 1 {
		t.Fatalf("stored %d (%v), want 1", len(ems), err)
	}
	_, raw := e.email(t, ems[0].ID)
	if rcv := headerValues(raw, "Received"); len(rcv) != 1 || !strings.Contains(rcv[0], "with ESMTPS") {
		t.Errorf("Received = %q, want ESMTPS", rcv)
	}
}
