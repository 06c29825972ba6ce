package dsn

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// FuzzBuild checks that any original message and any reply text give a DSN that parses and
// keeps every generated field on one line.
func FuzzBuild(f *testing.F) {
	f.Add([]byte("Subject: x\r\nMessage-ID: <a@b>\r\n\r\nbody"), "550 5.1.1 no such user", "a@b.test")
	f.Add([]byte("no header end"), "line1\r\nline2", "ü@b.test")
	f.Add([]byte("\r\n\r\n"), "", "")
	f.Fuzz(func(t *testing.T, original []byte, diag, rcpt string) {
		out, err := Build(Report{ReportingMTA: "mx.test", From: "MAILER-DAEMON@mx.test", To: "s@x.test",
			Date: time.Unix(0, 0).UTC(), MessageID: "id@mx.test", Boundary: "b0undary",
			Original: original, Recipients: []Recipient{{Address: rcpt, Status: "5.0.0", Diagnostic: diag}}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("DSN does not parse: %v", err)
		}
		if !strings.HasPrefix(m.Header.Get("Content-Type"), "multipart/report") {
			t.Fatalf("content type %q", m.Header.Get("Content-Type"))
		}
		for _, line := range strings.Split(string(out), "\r\n") {
			if strings.ContainsAny(line, "\r\n") && !bytes.Contains(original, []byte(line)) {
				t.Fatalf("bare CR or LF in a generated line %q", line)
			}
		}
	})
}
