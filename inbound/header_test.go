package inbound

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSplitHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw string
		names     []string
		body      string
	}{
		{"simple", "A: 1\r\nB: 2\r\n\r\nbody\r\n", []string{"A", "B"}, "body\r\n"},
		{"folded", "A: 1\r\n 2\r\n\tthree\r\nB: x\r\n\r\n", []string{"A", "B"}, ""},
		{"no body separator", "A: 1\r\nB: 2\r\n", []string{"A", "B"}, ""},
		{"line without colon kept", "A: 1\r\ngarbage\r\n\r\nb", []string{"A", ""}, "b"},
		{"no final CRLF", "A: 1", []string{"A"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fields, body := splitHeader([]byte(tc.raw))
			var names []string
			var back bytes.Buffer
			for _, f := range fields {
				names = append(names, f.name)
				back.Write(f.raw)
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") || string(body) != tc.body {
				t.Fatalf("names %q body %q, want %q %q", names, body, tc.names, tc.body)
			}
			if body != nil {
				back.WriteString("\r\n")
				back.Write(body)
			}
			if back.String() != tc.raw {
				t.Fatalf("round trip %q, want %q", back.String(), tc.raw)
			}
		})
	}
}

func TestAuthServID(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{
		"mx.example.com; spf=pass":            "mx.example.com",
		"  mx.example.com 1; none":            "mx.example.com",
		"(comment (nested)) mx.example.com;x": "mx.example.com",
		"mx.example.com(c); dkim=pass":        "mx.example.com",
		"mx.example.com":                      "mx.example.com",
		"":                                    "",
	} {
		if got := authServID(v); got != want {
			t.Errorf("authServID(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestFromDomain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ header, want string }{
		{"From: A <a@Example.ORG>\r\n", "example.org"},
		{"From: a@b.example\r\n", "b.example"},
		{"From: =?x-unknown?q?A?= <a@c.example>\r\n", "c.example"},
		{"From: a@b.example\r\nFrom: c@d.example\r\n", ""},
		{"From: a@b.example, c@d.example\r\n", ""},
		{"Subject: none\r\n", ""},
	} {
		fields, _ := splitHeader([]byte(tc.header + "\r\n"))
		if got := fromDomain(fields); got != tc.want {
			t.Errorf("fromDomain(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func TestReceivedFieldSanitised(t *testing.T) {
	t.Parallel()
	got := receivedField(receivedInfo{helo: "evil\r\nX-Injected: yes (", ip: "127.0.0.1", by: testHost,
		id: "abc.1", rcpt: "agent@example.com", tls: true, at: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)})
	want := "Received: from evilX-Injected:yes ([127.0.0.1])\r\n\tby mx.example.com (multimail) with ESMTPS id abc.1\r\n" +
		"\tfor <agent@example.com>;\r\n\tWed, 25 Nov 2026 10:00:00 +0000\r\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func FuzzSplitHeader(f *testing.F) {
	f.Add([]byte("A: 1\r\n 2\r\nB: x\r\n\r\nbody"))
	f.Add([]byte("Authentication-Results: mx.example.com; spf=pass\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fields, body := splitHeader(raw)
		var back bytes.Buffer
		for _, fl := range fields {
			back.Write(fl.raw)
		}
		if body != nil {
			back.WriteString("\r\n")
			back.Write(body)
		}
		if !bytes.Equal(back.Bytes(), raw) {
			t.Fatalf("round trip changed the message")
		}
		out, n := stripForgedAuthResults(raw, testHost)
		if n == 0 && !bytes.Equal(out, raw) {
			t.Fatalf("nothing dropped but the message changed")
		}
	})
}
