package mailbox

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// summary is the part of an Email parsed from the message header at delivery.
type summary struct {
	From, To, Cc []string
	Subject      string
	MessageID    string
	Date         time.Time
	AuthResults  string
	// for threading (thread.go): References then In-Reply-To, without angle brackets and
	// without duplicates; the bare lower-cased addresses of From, To and Cc.
	Refs         []string
	Participants []string
}

// parseSummary reads the header of raw with go-message. It never fails: a
// field that does not parse is left empty or kept as its raw text, and a
// message without a readable header gets an empty summary.
func parseSummary(raw []byte) summary {
	th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return summary{}
	}
	h := mail.Header{Header: message.Header{Header: th}}
	var s summary
	s.From = addressList(h, "From")
	s.To = addressList(h, "To")
	s.Cc = addressList(h, "Cc")
	s.Subject, _ = h.Subject() // on error, the raw value
	if id, err := h.MessageID(); err == nil {
		s.MessageID = id
	} else {
		s.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	}
	if d, err := h.Date(); err == nil {
		s.Date = d
	}
	// The topmost one is the one our inbound added (RFC 8601 §5).
	s.AuthResults = strings.TrimSpace(h.Get("Authentication-Results"))
	refs, _ := h.MsgIDList("References")
	irt, _ := h.MsgIDList("In-Reply-To")
	for _, id := range append(refs, irt...) {
		if id != "" && len(id) <= maxMsgIDLen && !strings.ContainsRune(id, 0) && !slices.Contains(s.Refs, id) {
			s.Refs = append(s.Refs, id)
		}
		if len(s.Refs) == maxRefs {
			break
		}
	}
	for _, key := range []string{"From", "To", "Cc"} {
		addrs, _ := h.AddressList(key)
		for _, a := range addrs {
			if addr := strings.ToLower(a.Address); addr != "" && !slices.Contains(s.Participants, addr) {
				s.Participants = append(s.Participants, addr)
			}
		}
	}
	return s
}

// addressList formats an address header as "Name <addr>" or "addr" strings;
// a list that does not parse is kept as its decoded text.
func addressList(h mail.Header, key string) []string {
	addrs, err := h.AddressList(key)
	if err != nil {
		if v, _ := h.Text(key); strings.TrimSpace(v) != "" {
			return []string{strings.TrimSpace(v)}
		}
		return nil
	}
	var out []string
	for _, a := range addrs {
		if a.Name != "" {
			out = append(out, a.Name+" <"+a.Address+">")
		} else {
			out = append(out, a.Address)
		}
	}
	return out
}

// fill copies the summary into e.
func (s summary) fill(e *Email) {
	e.From, e.To, e.Cc = s.From, s.To, s.Cc
	e.Subject, e.MessageID, e.Date, e.AuthResults = s.Subject, s.MessageID, s.Date, s.AuthResults
}
