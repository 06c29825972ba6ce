package inbound

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// ErrNotDSN: the message is not an RFC 3464 delivery status notification.
var ErrNotDSN = errors.New("inbound: not a delivery status notification")

// maxDSNRecipients bounds the per-recipient blocks read from one report.
const maxDSNRecipients = 1000

// DSN is the machine-readable part of a delivery status notification (RFC 3464 §2.2, §2.3).
type DSN struct {
	ReportingMTA       string // "dns; mx.example.org"
	OriginalEnvelopeID string
	Recipients         []DSNRecipient
}

// DSNRecipient is one per-recipient block of a DSN (RFC 3464 §2.3).
type DSNRecipient struct {
	FinalRecipient    string // the address, without its "rfc822;" type
	OriginalRecipient string // the address, without its type; may be ""
	Action            string // failed | delayed | delivered | relayed | expanded (lower case)
	Status            string // the enhanced status code, "5.1.1" (RFC 3463)
	DiagnosticCode    string // the remote reply, without its "smtp;" type: "550 5.1.1 User unknown"
	RemoteMTA         string
}

// Recipient is the address the report is about: the original recipient when given (it is
// the address we sent to), else the final one.
func (r DSNRecipient) Recipient() string {
	if r.OriginalRecipient != "" {
		return r.OriginalRecipient
	}
	return r.FinalRecipient
}

// SMTPCode is the reply code in the diagnostic, or 0 when it has none.
func (r DSNRecipient) SMTPCode() int {
	d := strings.TrimSpace(r.DiagnosticCode)
	if len(d) < 3 {
		return 0
	}
	n, err := strconv.Atoi(d[:3])
	if err != nil || n < 200 || n > 599 || (len(d) > 3 && d[3] != ' ' && d[3] != '-') {
		return 0
	}
	return n
}

// ParseDSN reads a multipart/report message and returns its first message/delivery-status
// (or message/global-delivery-status, RFC 6533) part. Anything else is ErrNotDSN.
func ParseDSN(r io.Reader) (*DSN, error) {
	e, err := message.Read(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: %v", ErrNotDSN, err)
	}
	if t, _, _ := e.Header.ContentType(); t != "multipart/report" {
		return nil, fmt.Errorf("%w: content type %q", ErrNotDSN, t)
	}
	mr := e.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return nil, fmt.Errorf("%w: no delivery-status part (%v)", ErrNotDSN, err)
		}
		switch t, _, _ := p.Header.ContentType(); t {
		case "message/delivery-status", "message/global-delivery-status":
			return parseDeliveryStatus(p.Body)
		}
	}
}

// parseDeliveryStatus reads the per-message block then the per-recipient blocks, each a
// header-like group of fields ended by an empty line (RFC 3464 §2.1).
func parseDeliveryStatus(r io.Reader) (*DSN, error) {
	br := bufio.NewReader(r)
	msgFields, err := readBlock(br)
	if err != nil {
		return nil, fmt.Errorf("%w: per-message fields: %v", ErrNotDSN, err)
	}
	d := &DSN{
		ReportingMTA:       msgFields.Get("Reporting-MTA"),
		OriginalEnvelopeID: msgFields.Get("Original-Envelope-Id"),
	}
	for len(d.Recipients) < maxDSNRecipients {
		h, err := readBlock(br)
		if h.Len() > 0 {
			d.Recipients = append(d.Recipients, recipientOf(h))
		}
		if err != nil {
			break
		}
	}
	if len(d.Recipients) == 0 {
		return nil, fmt.Errorf("%w: no per-recipient fields", ErrNotDSN)
	}
	return d, nil
}

// readBlock reads one group of fields, skipping empty lines before it. io.EOF means it was
// the last (possibly empty) block.
func readBlock(br *bufio.Reader) (textproto.Header, error) {
	for {
		b, err := br.Peek(2)
		if len(b) > 0 && b[0] == '\n' {
			_, _ = br.Discard(1)
			continue
		}
		if len(b) == 2 && b[0] == '\r' && b[1] == '\n' {
			_, _ = br.Discard(2)
			continue
		}
		if err != nil {
			return textproto.Header{}, io.EOF
		}
		break
	}
	h, err := textproto.ReadHeader(br)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return h, io.EOF
	}
	return h, err
}

// recipientOf extracts one per-recipient block.
func recipientOf(h textproto.Header) DSNRecipient {
	return DSNRecipient{
		FinalRecipient:    typedValue(h.Get("Final-Recipient")),
		OriginalRecipient: typedValue(h.Get("Original-Recipient")),
		Action:            strings.ToLower(strings.TrimSpace(stripComments(h.Get("Action")))),
		Status:            statusCode(h.Get("Status")),
		DiagnosticCode:    typedValue(h.Get("Diagnostic-Code")),
		RemoteMTA:         typedValue(h.Get("Remote-MTA")),
	}
}

// typedValue drops the "type;" prefix of an address-type or diagnostic-type field
// ("rfc822; a@b" -> "a@b") and angle brackets some MTAs add around addresses.
func typedValue(v string) string {
	if _, rest, ok := strings.Cut(v, ";"); ok {
		v = rest
	}
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") {
		v = v[1 : len(v)-1]
	}
	return v
}

// statusCode returns the "class.subject.detail" code at the start of a Status field, or ""
// when it is not one (RFC 3464 §2.3.4).
func statusCode(v string) string {
	v = strings.TrimSpace(stripComments(v))
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return ""
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 || len(p) > 3 {
			return ""
		}
	}
	return v
}
