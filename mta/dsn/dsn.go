package dsn

import (
	"bytes"
	"errors"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// Recipient is the delivery status of one recipient (RFC 3464 §2.3).
type Recipient struct {
	Address    string // Final-Recipient
	Action     string // "failed" (the default when empty), "delayed", "delivered", ...
	Status     string // RFC 3463 status code, e.g. "5.1.1"
	RemoteMTA  string // the host that answered, when there was one
	Diagnostic string // the remote reply, e.g. "550 5.1.1 No such user"; else our reason
	// DiagnosticType is the diagnostic-type of Diagnostic (RFC 3464 §2.3.6): "smtp" (the
	// default) for a remote reply, "X-Multimail" for a reason of our own.
	DiagnosticType string
	LastAttempt    time.Time // zero: omitted
}

// Report is everything one DSN says about one original message.
type Report struct {
	ReportingMTA string      // our host name (Reporting-MTA, and the text's "mail system at")
	From         string      // the DSN's From address, e.g. "MAILER-DAEMON@mx.example.com"
	To           string      // the original envelope sender
	EnvelopeID   string      // our id of the original message (Original-Envelope-Id)
	Arrival      time.Time   // when the original message was queued; zero: omitted
	Date         time.Time   // the DSN's Date
	MessageID    string      // the DSN's Message-ID, without angle brackets
	Boundary     string      // the multipart boundary (tests fix it; see NewBoundary)
	Recipients   []Recipient // at least one
	Original     []byte      // the original message; only its header section is included
}

// ErrNoRecipients is returned by Build for a Report without recipients.
var ErrNoRecipients = errors.New("dsn: no recipients")

// maxHeaderBytes caps the original header section copied into a DSN.
const maxHeaderBytes = 64 << 10

// Build renders r as a complete RFC 5322 message with CRLF line endings.
func Build(r Report) ([]byte, error) {
	if len(r.Recipients) == 0 {
		return nil, ErrNoRecipients
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if r.Boundary != "" {
		if err := mw.SetBoundary(r.Boundary); err != nil {
			return nil, fmt.Errorf("dsn: boundary: %w", err)
		}
	}
	writeHeader(&buf, r, mw.Boundary())
	parts := []struct {
		ctype string
		body  []byte
	}{
		{"text/plain; charset=utf-8", humanText(r)},
		{"message/delivery-status", statusFields(r)},
		{"text/rfc822-headers", Headers(r.Original)},
	}
	for _, p := range parts {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ctype}})
		if err != nil {
			return nil, fmt.Errorf("dsn: part: %w", err)
		}
		_, _ = w.Write(p.body) // writes to a bytes.Buffer cannot fail
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("dsn: close: %w", err)
	}
	return buf.Bytes(), nil
}

func writeHeader(buf *bytes.Buffer, r Report, boundary string) {
	h := func(k, v string) { fmt.Fprintf(buf, "%s: %s\r\n", k, oneLine(v)) }
	h("From", "Mail Delivery System <"+r.From+">")
	h("To", "<"+r.To+">")
	h("Subject", "Undelivered Mail Returned to Sender")
	h("Date", r.Date.Format(time.RFC1123Z))
	h("Message-ID", "<"+r.MessageID+">")
	if id := originalMessageID(r.Original); id != "" {
		h("In-Reply-To", id)
		h("References", id)
	}
	h("Auto-Submitted", "auto-replied") // RFC 3834 §5: no auto-reply loops
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+boundary+`"`)
	buf.WriteString("\r\nThis is a MIME-encapsulated delivery status notification.\r\n")
}

// humanText is the first, human-readable part (RFC 6522 §3).
func humanText(r Report) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "This is the mail system at host %s.\r\n\r\n", oneLine(r.ReportingMTA))
	b.WriteString("Your message could not be delivered to one or more recipients.\r\n")
	b.WriteString("The original message's headers are attached below.\r\n\r\n")
	for _, rc := range r.Recipients {
		reason := rc.Diagnostic
		if reason == "" {
			reason = "status " + rc.Status
		}
		if rc.RemoteMTA != "" {
			reason = "host " + rc.RemoteMTA + " said: " + reason
		}
		fmt.Fprintf(&b, "<%s>: %s\r\n", oneLine(rc.Address), oneLine(reason))
	}
	return b.Bytes()
}

// statusFields is the message/delivery-status body: per-message fields, then one block per
// recipient, blocks separated by an empty line (RFC 3464 §2.1).
func statusFields(r Report) []byte {
	var b bytes.Buffer
	f := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, oneLine(v)) }
	if r.EnvelopeID != "" {
		f("Original-Envelope-Id", r.EnvelopeID) // RFC 3464 §2.2.1
	}
	f("Reporting-MTA", "dns; "+r.ReportingMTA) // §2.2.2
	if !r.Arrival.IsZero() {
		f("Arrival-Date", r.Arrival.Format(time.RFC1123Z)) // §2.2.5
	}
	for _, rc := range r.Recipients {
		b.WriteString("\r\n")
		f("Final-Recipient", addressType(rc.Address)+"; "+rc.Address) // §2.3.2
		f("Action", orDefault(rc.Action, "failed"))                   // §2.3.3
		f("Status", rc.Status)                                        // §2.3.4
		if rc.RemoteMTA != "" {
			f("Remote-MTA", "dns; "+rc.RemoteMTA) // §2.3.5
		}
		if rc.Diagnostic != "" {
			f("Diagnostic-Code", orDefault(rc.DiagnosticType, "smtp")+"; "+rc.Diagnostic) // §2.3.6
		}
		if !rc.LastAttempt.IsZero() {
			f("Last-Attempt-Date", rc.LastAttempt.Format(time.RFC1123Z)) // §2.3.7
		}
	}
	return b.Bytes()
}

// addressType is "rfc822", or "utf-8" for an internationalised address (RFC 6533 §3).
func addressType(addr string) string {
	for i := 0; i < len(addr); i++ {
		if addr[i] >= utf8.RuneSelf {
			return "utf-8"
		}
	}
	return "rfc822"
}

// Headers returns the header section of msg (up to and including the empty line that ends
// it, or all of msg when there is none), capped at 64 KiB on a line boundary.
func Headers(msg []byte) []byte {
	end := len(msg)
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		end = i + 4
	} else if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		end = i + 2
	}
	h := msg[:end]
	if len(h) > maxHeaderBytes {
		h = h[:maxHeaderBytes]
		if i := bytes.LastIndexByte(h, '\n'); i >= 0 {
			h = h[:i+1]
		}
	}
	return h
}

// originalMessageID returns the Message-ID header value of msg, "" when absent.
func originalMessageID(msg []byte) string {
	lines := strings.Split(string(Headers(msg)), "\n")
	for i, line := range lines {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "Message-ID") {
			continue
		}
		for _, cont := range lines[i+1:] { // folded value (RFC 5322 §2.2.3)
			if cont == "" || (cont[0] != ' ' && cont[0] != '\t') {
				break
			}
			v += cont
		}
		return oneLine(strings.TrimSpace(v))
	}
	return ""
}

// oneLine keeps a field value on one line: CR and LF become spaces.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
