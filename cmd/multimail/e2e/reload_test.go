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
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// writeCert writes a self-signed certificate for cn and its key to certFile and keyFile
// (through a rename, as an operator's deploy tool or certbot would) and returns its DER.
func writeCert(t *testing.T, cn, certFile, keyFile string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	for file, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	} {
		if err := os.WriteFile(file+".new", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".new", file); err != nil {
			t.Fatal(err)
		}
	}
	return der
}

// peerCN is the common name of the certificate a new implicit-TLS connection to addr sees.
func peerCN(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// startTLSCN is the common name a new SMTP STARTTLS session on addr sees.
func startTLSCN(t *testing.T, addr string) string {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Noop(); err != nil { // the handshake happens on the first exchange
		t.Fatal(err)
	}
	st, _ := c.TLSConnectionState()
	return st.PeerCertificates[0].Subject.CommonName
}

// editConfig rewrites the node's config file through f.
func editConfig(t *testing.T, n *Node, f func(string) string) {
	t.Helper()
	b, err := os.ReadFile(n.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.Config, []byte(f(string(b))), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSIGHUPReload replaces the certificate files and the config and sends SIGHUP: new TLS
// connections (IMAPS, SMTP STARTTLS) see the new certificate while an IMAP session and an
// SMTP submission session opened before go on; a mailbox, its key and an approval rule added
// to the file take effect; a broken file is refused with the running config kept; a changed
// listen address is logged as needing a restart.
func TestSIGHUPReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, "old.e2e.test", certFile, keyFile)
	n := Start(t, Options{Config: fmt.Sprintf("[tls]\ncert = %q\nkey = %q\n\n", certFile, keyFile)})
	imaps, submission := Addr(n.Ports.IMAPS), Addr(n.Ports.Submission)
	if cn := peerCN(t, imaps); cn != "old.e2e.test" {
		t.Fatalf("IMAPS presents %q before the reload", cn)
	}

	// Sessions opened before the reload.
	ic, err := imapclient.DialTLS(imaps, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(Sender, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	sc, err := smtp.DialStartTLS(submission, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Auth(sasl.NewPlainClient("", Sender, Password)); err != nil {
		t.Fatal(err)
	}

	// New certificate, new mailbox with a key and a gated rule; then SIGHUP.
	writeCert(t, "new.e2e.test", certFile, keyFile)
	const newKey = "mm_live_e2e_reloaded_key_000001"
	editConfig(t, n, func(s string) string {
		return s + "[[mailbox]]\naddress = \"reloaded@example.com\"\noversight = \"gated_send\"\n" +
			"password = \"reloaded-password-1\"\napi_keys = [\"" + newKey + "\"]\n\n" +
			"[[approval_rule]]\nmailbox = \"reloaded@example.com\"\nrecipients = [\"*@blocked.test\"]\naction = \"reject\"\n"
	})
	n.Signal(syscall.SIGHUP)
	n.WaitOutput("config reloaded", 1, 30*time.Second)

	if cn := peerCN(t, imaps); cn != "new.e2e.test" {
		t.Errorf("IMAPS presents %q after the reload, want new.e2e.test", cn)
	}
	if cn := startTLSCN(t, submission); cn != "new.e2e.test" {
		t.Errorf("submission STARTTLS presents %q after the reload, want new.e2e.test", cn)
	}
	// The open sessions go on.
	if sel, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Errorf("open IMAP session after reload: %v", err)
	} else if sel == nil {
		t.Error("no SELECT data")
	}
	msg := "From: <" + Sender + ">\r\nTo: <far@remote.test>\r\nSubject: across the reload\r\n\r\nstill here\r\n"
	if err := sc.SendMail(Sender, []string{"far@remote.test"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("open SMTP session after reload: %v", err)
	}
	ctx := Context(t, 30*time.Second)
	if _, err := n.MX.WaitFor(ctx, 1); err != nil {
		t.Fatalf("message sent across the reload not delivered: %v", err)
	}

	// The new mailbox logs in; its key sends; the new rule decides.
	nc, err := imapclient.DialTLS(imaps, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Login("reloaded@example.com", "reloaded-password-1").Wait(); err != nil {
		t.Errorf("mailbox added by reload cannot log in: %v", err)
	}
	code, body := n.Do("POST", "/v1/send_email", newKey,
		[]byte(`{"mailbox_id":"reloaded@example.com","to":"x@blocked.test","subject":"s","text":"t"}`))
	var rec struct{ Status string }
	if code != 202 || json.Unmarshal(body, &rec) != nil || rec.Status != "rejected" {
		t.Errorf("send by the reloaded key under the reloaded rule: %d %s (want 202 rejected)", code, body)
	}

	// A broken file is refused; the node keeps serving what it had.
	good, _ := os.ReadFile(n.Config)
	editConfig(t, n, func(s string) string { return s + "[[mailbox]]\naddress = \"nodomain@elsewhere.test\"\n" })
	n.Signal(syscall.SIGHUP)
	n.WaitOutput("reload refused", 1, 30*time.Second)
	if out := n.Output(); !strings.Contains(out, "mailbox[") || !strings.Contains(out, "address") {
		t.Errorf("refusal does not name the key:\n%s", out)
	}
	if cn := peerCN(t, imaps); cn != "new.e2e.test" {
		t.Errorf("after a refused reload IMAPS presents %q", cn)
	}
	// A broken certificate is refused as well.
	os.WriteFile(n.Config, good, 0o600)
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	n.Signal(syscall.SIGHUP)
	n.WaitOutput("reload refused", 2, 30*time.Second)
	if cn := peerCN(t, imaps); cn != "new.e2e.test" {
		t.Errorf("after a refused certificate IMAPS presents %q", cn)
	}

	// A listen address needs a restart: logged, and the running listener stays.
	writeCert(t, "new.e2e.test", certFile, keyFile)
	editConfig(t, n, func(s string) string {
		return strings.Replace(s, fmt.Sprintf("http = \"127.0.0.1:%d\"", n.Ports.HTTP), "http = \"127.0.0.1:1\"", 1)
	})
	n.Signal(syscall.SIGHUP)
	n.WaitOutput("config reloaded", 2, 30*time.Second)
	if out := n.Output(); !strings.Contains(out, "need a restart") || !strings.Contains(out, "listen.http") {
		t.Errorf("changed listen address not logged as needing a restart:\n%s", out)
	}
	if code, _ := n.Do("GET", "/healthz", "", nil); code != 200 {
		t.Errorf("healthz on the running address: %d", code)
	}
	if err := ic.Noop().Wait(); err != nil {
		t.Errorf("IMAP session opened before the first reload: %v", err)
	}
}
