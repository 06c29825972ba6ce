package submission

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/internal/interoptest"
)

// pySMTP drives the server with Python's smtplib: STARTTLS + PLAIN, implicit TLS + LOGIN,
// and a wrong password. It prints one result line per scenario.
const pySMTP = `
import smtplib, ssl, sys
host, port, tlsport, pw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl._create_unverified_context()
msg = "From: auto@example.com\r\nTo: bob@dest.example\r\nSubject: smtplib\r\n\r\nhello from python\r\n"
s = smtplib.SMTP(host, port, timeout=10)
s.starttls(context=ctx)
s.login("auto@example.com", pw)
s.sendmail("auto@example.com", ["bob@dest.example"], msg)
s.quit()
print("plain-ok")
s = smtplib.SMTP_SSL(host, tlsport, context=ctx, timeout=10)
s.ehlo()
s.user, s.password = "auto@example.com", pw
code, resp = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
s.sendmail("auto@example.com", ["bob@dest.example"], msg)
s.quit()
print("login-ok", code)
s = smtplib.SMTP(host, port, timeout=10)
s.starttls(context=ctx)
try:
    s.login("auto@example.com", "wrong")
except smtplib.SMTPAuthenticationError as e:
    print("wrong", e.smtp_code)
`

func TestInteropPythonSmtplib(t *testing.T) {
	t.Parallel()
	if err := exec.Command("/usr/bin/python3", "-c", "import smtplib").Run(); err != nil {
		interoptest.Missing(t, "python3 not installed")
	}
	ts := newServer(t, false, nil)
	host, port, _ := net.SplitHostPort(ts.submission)
	_, tlsPort, _ := net.SplitHostPort(ts.submissions)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", pySMTP, host, port, tlsPort, testPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "plain-ok\nlogin-ok 235\nwrong 535"; got != want {
		t.Fatalf("smtplib said %q, want %q", got, want)
	}
	if n := len(sentFolder(t, ts.testEnv, "auto@example.com")); n != 2 {
		t.Fatalf("%d messages in Sent, want 2", n)
	}
}

func TestInteropSwaks(t *testing.T) {
	t.Parallel()
	swaks := interoptest.Swaks(t)
	ts := newServer(t, false, nil)
	cases := []struct {
		name   string
		args   []string
		ok     bool
		expect string
	}{
		{"starttls plain", []string{"--server", ts.submission, "--tls", "--auth", "PLAIN"}, true, "250 2.0.0 OK: queued as msg_"},
		{"starttls login", []string{"--server", ts.submission, "--tls", "--auth", "LOGIN"}, true, "250 2.0.0 OK: queued as msg_"},
		{"implicit tls", []string{"--server", ts.submissions, "--tls-on-connect", "--auth", "PLAIN"}, true, "250 2.0.0 OK: queued as msg_"},
		{"no tls: AUTH not offered", []string{"--server", ts.submission, "--auth", "PLAIN"}, false, "Host did not advertise authentication"},
		{"forged from", []string{"--server", ts.submission, "--tls", "--auth", "PLAIN", "--header", "From: boss@example.com"}, false, "553 5.7.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := append([]string{"--from", "auto@example.com", "--to", "bob@dest.example",
				"--auth-user", "auto@example.com", "--auth-password", testPassword,
				"--timeout", "10", "--header", "Subject: swaks"}, tc.args...)
			out, err := exec.CommandContext(ctx, swaks, args...).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("swaks err = %v, want ok=%v\n%s", err, tc.ok, out)
			}
			if !strings.Contains(string(out), tc.expect) {
				t.Fatalf("swaks output lacks %q:\n%s", tc.expect, out)
			}
		})
	}
}
