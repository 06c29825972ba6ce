package inbound

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/internal/interoptest"
)

// pySMTP drives python3's smtplib: one good message, one unknown user, one relay attempt.
const pySMTP = `
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
msg = "From: a@pass.example\r\nTo: agent@example.com\r\nSubject: smtplib\r\n\r\nHello from Python.\r\n"
s = smtplib.SMTP(host, port, local_hostname="py.test", timeout=20)
s.ehlo()
print("ext", " ".join(sorted(s.esmtp_features)))
print("refused", len(s.sendmail("a@pass.example", ["agent@example.com"], msg)))
for rcpt in ["nobody@example.com", "x@other.example"]:
    try:
        s.sendmail("a@pass.example", [rcpt], msg)
        print("accepted", rcpt)
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[rcpt]
        print("rcpt", code, text.decode().split()[0])
s.quit()
`

func TestInteropPythonSmtplib(t *testing.T) {
	t.Parallel()
	py := interoptest.Tool(t, "python3")
	e := newEnv(t, nil)
	host, port, _ := net.SplitHostPort(e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", pySMTP, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{"refused 0", "rcpt 550 5.1.1", "rcpt 554 5.7.1", "pipelining", "smtputf8", "chunking"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := countEmails(t, e.store, "agent@example.com"); n != 1 {
		t.Errorf("%d emails stored, want 1", n)
	}
}

func TestInteropSwaks(t *testing.T) {
	t.Parallel()
	swaks := interoptest.Swaks(t)
	e := newEnv(t, nil)
	host, port, _ := net.SplitHostPort(e.addr)
	run := func(to string, extra ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args := append([]string{"--server", host, "--port", port, "--helo", "swaks.test",
			"--from", "a@pass.example", "--to", to, "--header", "Subject: swaks",
			"--body", "Hello from swaks.", "--timeout", "20"}, extra...)
		out, err := exec.CommandContext(ctx, swaks, args...).CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct {
		name, to string
		extra    []string
		ok       bool
		want     string
	}{
		{"plain", "agent@example.com", nil, true, "250 2.0.0 OK: stored as em_"},
		{"pipelining", "agent@example.com", []string{"--pipeline"}, true, "250 2.0.0 OK: stored as em_"},
		{"unknown user", "nobody@example.com", nil, false, "550 5.1.1"},
		{"relay denied", "x@other.example", nil, false, "554 5.7.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(tc.to, tc.extra...)
			if (err == nil) != tc.ok || !strings.Contains(out, tc.want) {
				t.Fatalf("swaks err=%v, want ok=%v and %q:\n%s", err, tc.ok, tc.want, out)
			}
		})
	}
	if n := countEmails(t, e.store, "agent@example.com"); n != 2 {
		t.Errorf("%d emails stored, want 2", n)
	}
}

// TestInteropSwaksSmuggling: swaks sends DATA bytes as they are (--no-data-fixup) with a
// "\r\n.\r" end-of-data lookalike followed by a smuggled transaction; the message is refused
// whole with 550 5.5.2 and nothing is stored.
func TestInteropSwaksSmuggling(t *testing.T) {
	t.Parallel()
	swaks := interoptest.Swaks(t)
	e := newEnv(t, nil)
	host, port, _ := net.SplitHostPort(e.addr)
	for name, seq := range map[string]string{"CRLF dot CR": "\r\n.\r", "CRLF dot CR CRLF": "\r\n.\r\r\n"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := "From: a@pass.example\r\nTo: agent@example.com\r\nSubject: swaks smuggling\r\n\r\nhello" + seq +
				"MAIL FROM:<evil@pass.example>\r\nRCPT TO:<agent@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n"
			file := filepath.Join(t.TempDir(), "data.eml")
			if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, swaks, "--server", host, "--port", port, "--helo", "swaks.test",
				"--from", "a@pass.example", "--to", "agent@example.com", "--timeout", "20",
				"--no-data-fixup", "--data", "@"+file).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "550 5.5.2") {
				t.Fatalf("swaks err=%v, want a 550 5.5.2 refusal:\n%s", err, out)
			}
		})
	}
	t.Cleanup(func() {
		if n := countEmails(t, e.store, "agent@example.com"); n != 0 {
			t.Errorf("%d emails stored, want none", n)
		}
	})
}
