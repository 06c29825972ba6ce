package dsn

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	t0       = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	original = []byte("From: Agent <agent@example.com>\r\nTo: bob@example.org\r\n" +
		"Subject: Quarterly numbers\r\nMessage-ID:\r\n <abc123@example.com>\r\n\r\nSecret body.\r\n")
)

func TestBuildGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		report Report
	}{
		{"one-remote", Report{
			ReportingMTA: "mx.example.com", From: "MAILER-DAEMON@mx.example.com",
			To: "agent@example.com", EnvelopeID: "msg_01KAXXXXXXXXXXXXXXXXXXXXXX",
			Arrival: t0, Date: t0.Add(time.Minute), MessageID: "dsn.1@mx.example.com",
			Boundary: "dsnboundary1", Original: original,
			Recipients: []Recipient{{Address: "reject-1@example.org", Status: "5.1.1",
				RemoteMTA: "mx1.example.org", Diagnostic: "550 5.1.1 No such user here",
				LastAttempt: t0.Add(time.Minute)}},
		}},
		{"two-local-reasons", Report{
			ReportingMTA: "mx.example.com", From: "MAILER-DAEMON@mx.example.com",
			To: "agent@example.com", Date: t0, MessageID: "dsn.2@mx.example.com",
			Boundary: "dsnboundary2", Original: []byte("Subject: no body separator\r\n"),
			Recipients: []Recipient{
				{Address: "a@null.example", Status: "5.1.10", Diagnostic: "recipient domain has a null MX (RFC 7505)",
					DiagnosticType: "X-Multimail"},
				{Address: "b@gone.example", Status: "4.4.1", Diagnostic: "connection refused\r\ninjected: header",
					DiagnosticType: "X-Multimail"},
			},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Build(tc.report)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update):\n%s", golden, got)
			}
			checkStructure(t, got, len(tc.report.Recipients))
		})
	}
}

// checkStructure parses a DSN with the standard library and checks RFC 3464's shape.
func checkStructure(t *testing.T, msg []byte, rcpts int) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content-type %q %v", mt, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		if strings.HasPrefix(p.Header.Get("Content-Type"), "message/delivery-status") {
			if n := strings.Count(string(body), "Final-Recipient:"); n != rcpts {
				t.Errorf("%d Final-Recipient fields, want %d", n, rcpts)
			}
		}
		if p.Header.Get("Content-Type") == "text/rfc822-headers" && bytes.Contains(body, []byte("Secret body")) {
			t.Error("the original body leaked into the DSN")
		}
	}
	if len(types) != 3 {
		t.Fatalf("parts %v, want 3", types)
	}
}

func TestBuildNoRecipients(t *testing.T) {
	t.Parallel()
	if _, err := Build(Report{}); !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("Build = %v, want ErrNoRecipients", err)
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("X-Pad: 0123456789012345678901234567890123456789\r\n"), 3000)
	cases := []struct {
		name string
		in   []byte
		want int // length of the result; -1: check the cap instead
	}{
		{"crlf", []byte("A: b\r\n\r\nbody"), 8},
		{"lf", []byte("A: b\n\nbody"), 6},
		{"no body", []byte("A: b\r\n"), 6},
		{"capped", big, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Headers(tc.in)
			if tc.want >= 0 && len(got) != tc.want {
				t.Fatalf("len %d, want %d", len(got), tc.want)
			}
			if tc.want < 0 && (len(got) > maxHeaderBytes || !bytes.HasSuffix(got, []byte("\r\n"))) {
				t.Fatalf("cap: len %d", len(got))
			}
		})
	}
}
