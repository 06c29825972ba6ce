package submission

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// rawMessage is a submitted message split into its header and body.
type rawMessage struct {
	header mail.Header
	body   []byte
}

// parseRaw splits raw at the end of its header (go-message keeps each field's raw bytes, so
// what we do not touch is written back byte for byte, as DKIM needs).
func parseRaw(raw []byte) (*rawMessage, error) {
	r := bytes.NewReader(raw)
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformedMessage, err)
	}
	consumed := len(raw) - br.Buffered() - r.Len()
	return &rawMessage{header: mail.Header{Header: message.Header{Header: h}}, body: raw[consumed:]}, nil
}

// checkFrom requires exactly one From: address, equal to sender (CONTRACT.md §3).
func (m *rawMessage) checkFrom(sender string) error {
	if len(m.header.Values("From")) != 1 {
		return fmt.Errorf("%w: the message needs exactly one From: field", ErrSenderNotAllowed)
	}
	// One mailbox, not a list or a group (RFC 5322 §3.6.2 without Sender:).
	v := m.header.Get("From")
	from, err := mail.ParseAddress(v)
	if err != nil || strings.HasSuffix(strings.TrimSpace(v), ";") { // net/mail takes a group of one
		return fmt.Errorf("%w: From: must be one address", ErrSenderNotAllowed)
	}
	if !strings.EqualFold(from.Address, sender) {
		return fmt.Errorf("%w: From: is not the authenticated mailbox", ErrSenderNotAllowed)
	}
	return nil
}

// complete adds Date and Message-ID when missing (RFC 6409 §8.2, §8.3) and drops Bcc, which
// must not travel with the message (RFC 5322 §3.6.3).
func (m *rawMessage) complete(now time.Time, msgID string) {
	if !m.header.Has("Date") {
		m.header.SetDate(now)
	}
	if !m.header.Has("Message-Id") {
		m.header.SetMessageID(msgID)
	}
	m.header.Del("Bcc")
}

// subject is the decoded Subject for queue listings ("" when undecodable).
func (m *rawMessage) subject() string {
	s, _ := m.header.Subject()
	return s
}

// bytes writes the message back.
func (m *rawMessage) bytes() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(m.body) + 1024)
	if err := textproto.WriteHeader(&buf, m.header.Header.Header); err != nil {
		return nil, err
	}
	buf.Write(m.body)
	return buf.Bytes(), nil
}
