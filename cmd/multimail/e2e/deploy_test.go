package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mta/mtatest"
)

// guideBlock returns the fenced block that follows marker in docs/deployment.md.
func guideBlock(t *testing.T, marker string) string {
	t.Helper()
	src, err := os.ReadFile("../../../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), marker)
	if !ok {
		t.Fatalf("docs/deployment.md has no %q", marker)
	}
	_, rest, _ = strings.Cut(rest, "```toml\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("docs/deployment.md: no toml block after %q", marker)
	}
	return block
}

// mustReplace replaces old (which must be in *s, so the guide and the test cannot drift).
func mustReplace(t *testing.T, s *string, old, new string) {
	t.Helper()
	if !strings.Contains(*s, old) {
		t.Fatalf("the guide's example no longer has %q", old)
	}
	*s = strings.Replace(*s, old, new, 1)
}

// guideValue is the quoted value of key in the guide's block (the first one).
func guideValue(t *testing.T, block, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s*=\s*\[?"([^"]*)"`).FindStringSubmatch(block)
	if m == nil {
		t.Fatalf("the guide's example has no %s", key)
	}
	return m[1]
}

// verifyPeer checks the certificate a TLS handshake with addr presents (sni "" sends no
// server name) against roots for the name want, and returns the leaf.
func verifyPeer(t *testing.T, addr, sni, want string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 90 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s (SNI %q): %v", addr, sni, err)
	}
	defer c.Close()
	return verifyChain(t, c.ConnectionState().PeerCertificates, want, roots)
}

func verifyChain(t *testing.T, chain []*x509.Certificate, want string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: want, Roots: roots, Intermediates: inter}); err != nil {
		t.Errorf("certificate for %s (subject %s, names %v) does not verify: %v", want, chain[0].Subject, chain[0].DNSNames, err)
	}
	return chain[0]
}

// TestDeploymentGuide stands a node up the way docs/deployment.md says: the config is the
// guide's example block, with only what a test host must change (loopback ports, the data
// dir, the local ACME CA, a test DNS server and a route to the recipient MX). Certificates come
// from pebble over TLS-ALPN-01/HTTP-01 and verify against pebble's per-run root, also for a
// client that sends no SNI; mail is sent through the API over HTTPS and received on port 25
// and read over IMAPS. Then the guide's certificate-files variant: the issued certificate as
// files, replaced and reloaded with SIGHUP while an IMAP session stays open; last, the guide's
// online backup, restored into the data dir of the stopped node, which then reads and sends.
func TestDeploymentGuide(t *testing.T) {
	t.Parallel()
	example := guideBlock(t, "<!-- deployment-example")
	files := guideBlock(t, "<!-- deployment-files")
	host, apiName := guideValue(t, example, "hostname"), guideValue(t, example, "acme_names")
	domain := guideValue(t, example, "name")
	mbox, password := guideValue(t, example, "address"), guideValue(t, example, "password")
	apiKey := guideValue(t, example, "api_keys")
	a := mtatest.Records{A: []string{"127.0.0.1"}}
	dns := mtatest.NewDNS(t, map[string]mtatest.Records{host: a, apiName: a, "mta-sts." + domain: a})

	var pb *Pebble
	n := Start(t, Options{NoTransport: true, RawConfig: func(n *Node) string {
		pb = StartPebble(t, dns.Addr(), n.Ports.ACMEHTTP, n.Ports.HTTPS)
		cfg := example
		p := n.Ports
		mustReplace(t, &cfg, `data_dir = "/var/lib/multimail"`, fmt.Sprintf("data_dir = %q", n.DataDir()))
		for old, port := range map[string]int{`"0.0.0.0:25"`: p.SMTP, `"0.0.0.0:587"`: p.Submission,
			`"0.0.0.0:465"`: p.Submissions, `"0.0.0.0:143"`: p.IMAP, `"0.0.0.0:993"`: p.IMAPS,
			`"0.0.0.0:443"`: p.HTTPS, `"0.0.0.0:80"`: p.ACMEHTTP, `"127.0.0.1:8025"`: p.HTTP} {
			mustReplace(t, &cfg, old, fmt.Sprintf("%q", Addr(port)))
		}
		mustReplace(t, &cfg, "acme       = true\n", fmt.Sprintf("acme       = true\nacme_directory = %q\nacme_ca_root = %q\n", pb.Dir, pb.CARoot))
		mustReplace(t, &cfg, `url    = "http://127.0.0.1:9000/multimail"`, fmt.Sprintf("url = %q", n.Hooks.URL()))
		// The test host's own: its DNS, and the recipient MX of remote.test.
		cfg += fmt.Sprintf("\n[dns]\nresolver = %q\n\n[[transport]]\ndomain = \"remote.test\"\nnext_hop = %q\ntls = \"none\"\n", dns.Addr(), n.MX.Addr())
		return cfg
	}})
	n.WaitOutput("ACME certificate ready", 1, 120*time.Second)
	roots := pb.IssuerRoots(t)
	p := n.Ports

	// Every TLS listener presents the issued certificate; without SNI, the host name's.
	verifyPeer(t, Addr(p.IMAPS), "", host, roots)
	verifyPeer(t, Addr(p.Submissions), host, host, roots)
	verifyPeer(t, Addr(p.HTTPS), apiName, apiName, roots)
	verifyPeer(t, Addr(p.HTTPS), "mta-sts."+domain, "mta-sts."+domain, roots)
	verifyPeer(t, Addr(p.HTTPS), "unknown.invalid", host, roots) // a name not ours: never asked of the CA
	for _, port := range []int{p.SMTP, p.Submission} {
		c, err := smtp.DialStartTLS(Addr(port), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Noop(); err != nil {
			t.Fatal(err)
		}
		st, _ := c.TLSConnectionState()
		verifyChain(t, st.PeerCertificates, host, roots)
		c.Close()
	}

	// Send through the API over HTTPS, by the public name, verified.
	api := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, Addr(p.HTTPS))
		},
	}}
	sendHTTPS := func(subject string) string {
		t.Helper()
		body := fmt.Sprintf(`{"mailbox_id":%q,"to":"far@remote.test","subject":%q,"text":"from the guide"}`, mbox, subject)
		req, _ := http.NewRequest("POST", "https://"+apiName+"/v1/send_email", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := api.Do(req)
		if err != nil {
			t.Fatalf("send over HTTPS: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r struct{ MessageID, Status string }
		if resp.StatusCode != 202 || json.Unmarshal(b, &r) != nil {
			t.Fatalf("send over HTTPS: %d %s", resp.StatusCode, b)
		}
		return strings.TrimSpace(r.MessageID)
	}
	sendHTTPS("deployed")
	ctx := Context(t, 60*time.Second)
	if _, err := n.MX.WaitUntil(ctx, func(ms []mtatest.Message) bool { return len(ms) >= 1 }); err != nil {
		t.Fatalf("message sent by the guide's mailbox not delivered: %v", err)
	}
	if m := n.MX.Messages()[0]; !bytes.Contains(m.Data, []byte("DKIM-Signature:")) {
		t.Errorf("delivered message not DKIM-signed:\n%s", m.Data)
	}

	// Receive on port 25; read over IMAPS with the issued certificate verified.
	receive := func(subject string) {
		t.Helper()
		msg := fmt.Sprintf("From: <someone@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nhello\r\n", mbox, subject)
		c, err := smtp.Dial(Addr(p.SMTP))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SendMail("someone@remote.test", []string{mbox}, strings.NewReader(msg)); err != nil {
			t.Fatalf("inbound to %s: %v", mbox, err)
		}
	}
	imapSession := func() *imapclient.Client {
		t.Helper()
		c, err := imapclient.DialTLS(Addr(p.IMAPS), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: roots, ServerName: host}})
		if err != nil {
			t.Fatalf("IMAPS with the issued certificate verified: %v", err)
		}
		if err := c.Login(mbox, password).Wait(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitInbox := func(c *imapclient.Client, want uint32) {
		t.Helper()
		waitUntil(t, 30*time.Second, func() bool {
			sel, err := c.Select("INBOX", nil).Wait()
			return err == nil && sel.NumMessages >= want
		})
	}
	receive("inbound one")
	ic := imapSession()
	waitInbox(ic, 1)
	ic.Close()

	// The guide's certificate-files variant: the issued certificate as files (as another
	// ACME client would leave them), then replaced and reloaded with SIGHUP.
	cache, err := os.ReadFile(filepath.Join(n.DataDir(), "acme", host))
	if err != nil {
		t.Fatalf("ACME cache in data_dir/acme: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(n.DataDir(), "acme")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data_dir/acme mode: %v %v", fi.Mode(), err)
	}
	var chainPEM, keyPEM []byte
	for rest := cache; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chainPEM = append(chainPEM, pem.EncodeToMemory(b)...)
		} else {
			keyPEM = pem.EncodeToMemory(b)
		}
	}
	tlsDir := t.TempDir()
	certFile, keyFile := filepath.Join(tlsDir, "fullchain.pem"), filepath.Join(tlsDir, "privkey.pem")
	if err := os.WriteFile(certFile, chainPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	mustReplace(t, &files, `"/etc/multimail/tls/fullchain.pem"`, fmt.Sprintf("%q", certFile))
	mustReplace(t, &files, `"/etc/multimail/tls/privkey.pem"`, fmt.Sprintf("%q", keyFile))
	editConfig(t, n, func(s string) string {
		tlsStart := strings.Index(s, "[tls]\n")
		tlsEnd := tlsStart + strings.Index(s[tlsStart:], "\n\n")
		s = s[:tlsStart] + strings.TrimSpace(files) + s[tlsEnd:]
		return strings.Replace(s, fmt.Sprintf("acme_http   = %q\n", Addr(p.ACMEHTTP)), "", 1)
	})
	n.Stop()
	n.Restart()
	verifyPeer(t, Addr(p.IMAPS), "", host, roots)
	ic = imapSession()
	defer ic.Close()
	writeCert(t, host, certFile, keyFile) // the renewed certificate
	n.Signal(syscall.SIGHUP)
	n.WaitOutput("config reloaded", 1, 30*time.Second)
	cs, err := tls.Dial("tcp", Addr(p.IMAPS), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cs.ConnectionState().PeerCertificates[0]
	cs.Close()
	if leaf.Issuer.CommonName != host || leaf.Subject.CommonName != host {
		t.Errorf("after SIGHUP IMAPS presents %s issued by %s, want the replaced certificate", leaf.Subject, leaf.Issuer)
	}
	// Mail goes on through the reloaded node, and the session opened before it still works.
	func() {
		req, _ := http.NewRequest("POST", n.URL("/v1/send_email"), strings.NewReader(
			fmt.Sprintf(`{"mailbox_id":%q,"to":"far@remote.test","subject":"after reload","text":"t"}`, mbox)))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("send after reload: %v %v", err, resp)
		}
		resp.Body.Close()
	}()
	if _, err := n.MX.WaitUntil(ctx, func(ms []mtatest.Message) bool { return len(ms) >= 2 }); err != nil {
		t.Fatalf("message sent after the reload not delivered: %v", err)
	}
	receive("inbound two")
	waitInbox(ic, 2)
	ic.Close()

	// The guide's backups: an online backup of the running node, restored into the data dir
	// on a stopped node, which then has the mail and sends again.
	backup := filepath.Join(t.TempDir(), "backup")
	if out := n.mustCLI(t, "backup", backup); !strings.Contains(out, "private keys") {
		t.Errorf("backup output lacks the warning:\n%s", out)
	}
	n.Stop()
	if err := os.Rename(n.DataDir(), n.DataDir()+".old"); err != nil {
		t.Fatal(err)
	}
	if out := n.mustCLI(t, "restore", backup, "--data-dir", n.DataDir()); !strings.Contains(out, "UIDVALIDITY") {
		t.Errorf("restore output:\n%s", out)
	}
	n.Restart()
	rc, err := imapclient.DialTLS(Addr(p.IMAPS), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.Login(mbox, password).Wait(); err != nil {
		t.Fatalf("login after the restore: %v", err)
	}
	waitInbox(rc, 2)
	req, _ := http.NewRequest("POST", n.URL("/v1/send_email"), strings.NewReader(
		fmt.Sprintf(`{"mailbox_id":%q,"to":"far@remote.test","subject":"after restore","text":"t"}`, mbox)))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("send after restore: %v %v", err, resp)
	}
	var sent struct {
		MessageID string `json:"message_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&sent)
	resp.Body.Close()
	if _, err := n.MX.WaitUntil(Context(t, 60*time.Second), func(ms []mtatest.Message) bool {
		for _, m := range ms {
			if strings.Contains(string(m.Data), "Subject: after restore") {
				return true
			}
		}
		return false
	}); err != nil {
		_, body := n.Do("GET", "/v1/messages/"+sent.MessageID, apiKey, nil)
		t.Fatalf("message sent after the restore not delivered: %v\n%s", err, body)
	}
}
