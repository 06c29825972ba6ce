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

	"multimail.dev/multimail/queue"
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

// checkFrom applies the originator rule (checkOriginators) to a submitted message's header.
func (m *rawMessage) checkFrom(sender string) error {
	return checkOriginators(m.header.Values("From"), m.header.Values("Sender"), sender)
}

// checkOriginators is the one originator rule of both doors (docs/api.md, SMTP): exactly one
// From: naming one address, the sending mailbox, and at most one Sender:, also naming the
// sending mailbox (RFC 5322 §3.6.2 lets Sender: name whoever transmitted the message; here that
// is the authenticated mailbox, or the field would say another mailbox sent it). SMTP passes
// the submitted fields; send_email passes the From: it composes and its headers' Sender.
// Errors wrap ErrSenderNotAllowed.
func checkOriginators(from, sender []string, mbox string) error {
	if len(from) != 1 {
		return fmt.Errorf("%w: the message needs exactly one From: field", ErrSenderNotAllowed)
	}
	if err := originatorIs("From", from[0], mbox); err != nil {
		return err
	}
	if len(sender) > 1 {
		return fmt.Errorf("%w: the message has more than one Sender: field", ErrSenderNotAllowed)
	}
	for _, v := range sender {
		if err := originatorIs("Sender", v, mbox); err != nil {
			return err
		}
	}
	return nil
}

// originatorIs requires the field value to be one mailbox (not a list or a group) equal to mbox.
func originatorIs(name, v, mbox string) error {
	a, err := mail.ParseAddress(v)
	if err != nil || strings.HasSuffix(strings.TrimSpace(v), ";") { // net/mail takes a group of one
		return fmt.Errorf("%w: %s: must be one address", ErrSenderNotAllowed, name)
	}
	if !strings.EqualFold(a.Address, mbox) {
		return fmt.Errorf("%w: %s: is not the authenticated mailbox", ErrSenderNotAllowed, name)
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

// Submission control fields: an SMTP client (a framework's mailer) cannot use the API's
// priority and tags fields, so it may set them as header fields, which are removed before the
// message is signed and sent (they are instructions to us, not part of the mail).
const (
	hdrPriority = "X-Multimail-Priority" // high | normal | low
	hdrTags     = "X-Multimail-Tags"     // comma-separated tags
)

// controls reads and removes the control fields: the lane and the tags they ask for.
func (m *rawMessage) controls() (queue.Lane, []string, error) {
	prio := strings.TrimSpace(m.header.Get(hdrPriority))
	lane, err := queue.ParseLane(strings.ToLower(prio))
	if err != nil {
		return 0, nil, fieldErr("priority", fmt.Sprintf("%s: want high, normal or low, got %q", hdrPriority, prio))
	}
	var tags []string
	for _, v := range m.header.Values(hdrTags) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	if tags, err = checkTags(tags); err != nil {
		return 0, nil, err
	}
	m.header.Del(hdrPriority)
	m.header.Del(hdrTags)
	return lane, tags, nil
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
