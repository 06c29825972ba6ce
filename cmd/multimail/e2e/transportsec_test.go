package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mta/mtatest"
)

// tlsrptCollector is an HTTPS endpoint (certificate from the test CA) that serves MTA-STS
// policies by Host and records the TLS-RPT reports POSTed to /tlsrpt.
type tlsrptCollector struct {
	srv      *httptest.Server
	mu       sync.Mutex
	policies map[string]string
	reports  [][]byte
	types    []string
}

func (c *tlsrptCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.Host)
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Method == http.MethodPost && r.URL.Path == "/tlsrpt" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "not gzip", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(zr)
		c.reports = append(c.reports, b)
		c.types = append(c.types, r.Header.Get("Content-Type"))
		return
	}
	p, ok := c.policies[host]
	if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, p)
}

// TestMTASTSAndTLSRPT runs the binary against recipient domains that publish MTA-STS
// policies (served over HTTPS with a test CA) and TLS-RPT records: an enforce policy whose MX
// matches delivers over verified TLS, one whose MX does not match defers with an error naming
// the policy, a testing policy delivers; `multimail tlsrpt report --send` makes the reports,
// which parse with RFC 8460's fields and reach the rua by HTTPS POST and by DKIM-signed mail.
func TestMTASTSAndTLSRPT(t *testing.T) {
	t.Parallel()
	ca, err := mtatest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	mxTLS, err := ca.ServerTLS(0, "mx.sts.test")
	if err != nil {
		t.Fatal(err)
	}
	mx := mtatest.NewMX(t, mtatest.MXOptions{Hostname: "mx.sts.test", TLSConfig: mxTLS, REQUIRETLS: true})
	col := &tlsrptCollector{policies: map[string]string{
		"mta-sts.good.test":    "version: STSv1\r\nmode: enforce\r\nmx: *.sts.test\r\nmax_age: 86400\r\n",
		"mta-sts.bad.test":     "version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n",
		"mta-sts.testing.test": "version: STSv1\r\nmode: testing\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n",
	}}
	col.srv = httptest.NewUnstartedServer(col)
	webTLS, err := ca.ServerTLS(0, "mta-sts.good.test", "mta-sts.bad.test", "mta-sts.testing.test", "reports.test")
	if err != nil {
		t.Fatal(err)
	}
	col.srv.TLS = webTLS
	col.srv.StartTLS()
	t.Cleanup(col.srv.Close)
	webPort := col.srv.Listener.Addr().(*net.TCPAddr).Port

	zone := map[string]mtatest.Records{
		"mx.sts.test":       {A: []string{"127.0.0.1"}},
		"reports.test":      {A: []string{"127.0.0.1"}},
		"mail-reports.test": {MX: []net.MX{{Host: "mx.sts.test.", Pref: 10}}},
		"nopolicy.test":     {MX: []net.MX{{Host: "mx.sts.test.", Pref: 10}}},
	}
	for _, d := range []string{"good.test", "bad.test", "testing.test"} {
		zone[d] = mtatest.Records{MX: []net.MX{{Host: "mx.sts.test.", Pref: 10}}}
		zone["mta-sts."+d] = mtatest.Records{A: []string{"127.0.0.1"}}
		zone["_mta-sts."+d] = mtatest.Records{TXT: []string{"v=STSv1; id=e2e1;"}}
	}
	zone["_smtp._tls.good.test"] = mtatest.Records{TXT: []string{
		fmt.Sprintf("v=TLSRPTv1; rua=https://reports.test:%d/tlsrpt", webPort)}}
	zone["_smtp._tls.bad.test"] = mtatest.Records{TXT: []string{"v=TLSRPTv1; rua=mailto:tls@mail-reports.test"}}
	dns := mtatest.NewDNS(t, zone)

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	n := Start(t, Options{NoTransport: true, Config: fmt.Sprintf(`[dns]
resolver = %q

[delivery]
mx_port = %d

[transport_security]
root_ca_file = %q
allow_networks = ["127.0.0.0/8"]
policy_port = %d
`, dns.Addr(), mx.Port(), caFile, webPort)})
	ctx := Context(t, 60*time.Second)

	good := send(t, n, `{"mailbox_id":"auth@example.com","to":"someone@good.test","subject":"enforce ok","text":"x"}`)
	h, err := n.Hooks.WaitEvent(ctx, good.MessageID, "delivered")
	if err != nil {
		t.Fatal(err)
	}
	if h.Event["tls"] != true || h.Event["mx_host"] != "mx.sts.test" {
		t.Fatalf("delivered event %s, want TLS to mx.sts.test", h.Body)
	}

	bad := send(t, n, `{"mailbox_id":"auth@example.com","to":"someone@bad.test","subject":"enforce mismatch","text":"x"}`)
	h, err = n.Hooks.WaitEvent(ctx, bad.MessageID, "deferred")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := h.Event["error_detail"].(string); !strings.Contains(d, "MTA-STS policy of bad.test") || !strings.Contains(d, "mx.sts.test") {
		t.Fatalf("deferred event %s, want an error naming the policy and the MX", h.Body)
	}

	tsend := send(t, n, `{"mailbox_id":"auth@example.com","to":"someone@testing.test","subject":"testing","text":"x"}`)
	if _, err := n.Hooks.WaitEvent(ctx, tsend.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}

	// REQUIRETLS on submission: relayed with the parameter where an MTA-STS policy validates
	// the MX, bounced 5.7.30 where none does; "TLS-Required: No" passes a policy that defers.
	id := submitSMTP(t, n, "someone@good.test", "", true)
	if _, err := n.Hooks.WaitEvent(ctx, id, "delivered"); err != nil {
		t.Fatal(err)
	}
	if _, err := mx.WaitUntil(ctx, func(ms []mtatest.Message) bool {
		for _, m := range ms {
			if m.RequireTLS && bytes.Contains(m.Data, []byte(id)) {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no message relayed with MAIL FROM … REQUIRETLS: %v", err)
	}
	id = submitSMTP(t, n, "someone@nopolicy.test", "", true)
	h, err = n.Hooks.WaitEvent(ctx, id, "bounced")
	if err != nil {
		t.Fatal(err)
	}
	if h.Event["enhanced_code"] != "5.7.30" {
		t.Fatalf("bounced event %s, want 5.7.30", h.Body)
	}
	id = submitSMTP(t, n, "someone@bad.test", "TLS-Required: No\r\n", false)
	if _, err := n.Hooks.WaitEvent(ctx, id, "delivered"); err != nil {
		t.Fatal(err)
	}

	rpts := tlsrptReports(t, n, "--send")
	byDomain := map[string]map[string]any{}
	for _, raw := range rpts {
		r := mtatest.CheckTLSRPT(t, raw)
		pol := r["policies"].([]any)[0].(map[string]any)["policy"].(map[string]any)
		byDomain[pol["policy-domain"].(string)] = r
	}
	for d, want := range map[string][2]float64{"good.test": {1, 0}, "bad.test": {0, 1}, "testing.test": {0, 1}} {
		r := byDomain[d]
		if r == nil {
			t.Errorf("no report for %s in %s", d, rpts)
			continue
		}
		sum := r["policies"].([]any)[0].(map[string]any)["summary"].(map[string]any)
		ok, _ := sum["total-successful-session-count"].(float64)
		if (ok == 0) != (want[0] == 0) || sum["total-failure-session-count"] != want[1] {
			t.Errorf("%s summary %v, want successes: %v, failures: %v", d, sum, want[0] > 0, want[1])
		}
	}

	// good.test's rua is HTTPS: one POST, gzipped JSON.
	deadline := time.Now().Add(30 * time.Second)
	for {
		col.mu.Lock()
		got := len(col.reports)
		col.mu.Unlock()
		if got >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no report POSTed to good.test's rua")
		}
		time.Sleep(20 * time.Millisecond) // polling the collector, bounded by the deadline
	}
	col.mu.Lock()
	if col.types[0] != "application/tlsrpt+gzip" {
		t.Errorf("POST Content-Type %q", col.types[0])
	}
	mtatest.CheckTLSRPT(t, col.reports[0])
	col.mu.Unlock()

	// bad.test's rua is mailto: a DKIM-signed multipart/report reaches its MX.
	msgs, err := mx.WaitUntil(ctx, func(ms []mtatest.Message) bool {
		for _, m := range ms {
			if len(m.To) == 1 && m.To[0] == "tls@mail-reports.test" {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if len(m.To) == 1 && m.To[0] == "tls@mail-reports.test" {
			checkReportMail(t, n, m.Data)
		}
	}
}

// checkReportMail checks an RFC 8460 §5.3 report message: headers, DKIM signature without
// l=, multipart/report; report-type=tlsrpt with an application/tlsrpt+gzip part.
func checkReportMail(t *testing.T, n *Node, raw []byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	sigs := m.Header["Dkim-Signature"]
	if len(sigs) != 2 { // the domain's DKIM signature and the identity signature
		t.Errorf("%d DKIM-Signature fields, want 2", len(sigs))
	}
	for _, sig := range sigs {
		if !strings.Contains(sig, "d=example.com") || strings.Contains(strings.ReplaceAll(sig, " ", ""), ";l=") {
			t.Errorf("DKIM-Signature %q, want d=example.com and no l=", sig)
		}
	}
	// System mail carries the signed identity header, as the oversight messages do.
	if out, err := verifyIdentity(t, n, raw); err != nil || !strings.Contains(out, "(mode system), released autonomous") {
		t.Errorf("identity verify of the report mail: %v\n%s", err, out)
	}
	if m.Header.Get("TLS-Report-Domain") != "bad.test" || m.Header.Get("TLS-Report-Submitter") == "" {
		t.Errorf("report headers %v", m.Header)
	}
	if !strings.HasPrefix(m.Header.Get("Subject"), "Report Domain: bad.test Submitter: ") {
		t.Errorf("Subject %q", m.Header.Get("Subject"))
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			t.Fatal("no application/tlsrpt+gzip part")
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			continue
		}
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable only: base64 by hand
		dec, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(dec))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := io.ReadAll(zr)
		mtatest.CheckTLSRPT(t, js)
		return
	}
}

// submitSMTP sends one message through the submission port (STARTTLS, AUTH PLAIN), with
// MAIL FROM … REQUIRETLS when requireTLS, and returns its message id from the 250 reply.
func submitSMTP(t *testing.T, n *Node, to, extraHeader string, requireTLS bool) string {
	t.Helper()
	c, err := smtp.DialStartTLS(Addr(n.Ports.Submission), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the node's self-signed certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", Sender, Password)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(Sender, &smtp.MailOptions{RequireTLS: requireTLS}); err != nil {
		t.Fatalf("MAIL FROM REQUIRETLS=%v: %v", requireTLS, err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	body := "From: " + Sender + "\r\nTo: " + to + "\r\n" + extraHeader +
		"Subject: requiretls\r\n\r\nhello\r\n"
	if _, err := io.WriteString(w, body); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	id := regexp.MustCompile(`msg_[0-9A-Za-z]+`).FindString(resp.StatusText)
	if id == "" {
		t.Fatalf("no message id in %q", resp.StatusText)
	}
	return id
}

// tlsrptReports runs `multimail tlsrpt report [args]` against n and returns the reports it
// prints.
func tlsrptReports(t *testing.T, n *Node, args ...string) []json.RawMessage {
	t.Helper()
	cmd := exec.Command(Binary(t), append(append([]string{"tlsrpt", "report"}, args...), "--config", n.Config)...)
	cmd.Dir = n.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tlsrpt report: %v\n%s", err, stderr.String())
	}
	var rpts []json.RawMessage
	if err := json.Unmarshal(out, &rpts); err != nil {
		t.Fatalf("tlsrpt report output: %v\n%s", err, out)
	}
	return rpts
}
