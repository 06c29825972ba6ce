package submission

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/queue"
)

// Oversight messages (docs/oversight-model.md, oversight_address): a copy of each send of a monitored
// mailbox, and an approval request for each held send of a gated one. Each is an ordinary queued
// message of its own, never the user's message re-addressed: From multimail-oversight@<sender's
// domain>, its own VERP return path, DKIM-signed with the domain's key, Source "oversight",
// Auto-Submitted: auto-generated (RFC 3834), the user's message attached as message/rfc822.
// It is enqueued straight into the queue, not through accept, so it is never gated, monitored
// or copied itself: no recursion. Failing to enqueue it is logged and counted; the user's send
// stands.

// noticeKind is the kind of an oversight message; it labels the metrics.
type noticeKind string

const (
	noticeCopy     noticeKind = "copy"             // a monitored send, LaneNormal
	noticeApproval noticeKind = "approval_request" // a held send, LaneHigh: a human is waiting
)

// oversightSource is the queue.Message.Source of oversight messages.
const oversightSource = "oversight"

// oversightLocal is the local part of an oversight message's From.
const oversightLocal = "multimail-oversight"

// notice is one oversight message to build.
type notice struct {
	kind       noticeKind
	env        *envelope
	origID     string // the user's message
	approvalID string // noticeApproval only
	approveURL string // noticeApproval with Options.Links: the one-click links
	rejectURL  string
	original   []byte // the user's message as queued (signed)
	msgID      string // the notice's own queue id
	now        time.Time
}

// noticeFor is the oversight message a send calls for, or nil: a copy for an accepted send of a
// monitored mailbox, a request for a held one, when the mailbox names an oversight address.
func noticeFor(env *envelope, dec decision, r queue.Receipt, signed []byte) *notice {
	if env.sender.mbox.OversightAddress == "" || r.Duplicate {
		return nil
	}
	n := &notice{env: env, origID: r.ID, original: signed, now: env.now}
	switch {
	case r.Status == queue.StatusPendingApproval && dec.approval != nil:
		n.kind, n.approvalID = noticeApproval, dec.approval.ID
	case r.Status == queue.StatusQueued && dec.monitored:
		n.kind = noticeCopy
	default:
		return nil
	}
	return n
}

// notifyOversight enqueues the oversight message of a send, if it calls for one. It runs after
// the user's message is committed and on a context that the client's leaving does not cancel.
func (s *Submitter) notifyOversight(ctx context.Context, env *envelope, dec decision, r queue.Receipt, signed []byte) {
	n := noticeFor(env, dec, r, signed)
	if n == nil {
		return
	}
	n.msgID = queue.NewMessageID(s.clock.Now())
	if n.kind == noticeApproval && s.opts.Links != nil {
		if a, rj, ok := s.opts.Links.DecisionLinks(n.approvalID, env.sender.mbox.Address, env.expiresAt); ok {
			n.approveURL, n.rejectURL = a, rj
		}
	}
	id, err := s.enqueueNotice(context.WithoutCancel(ctx), n)
	if err != nil {
		s.metrics.oversightErrors.WithLabelValues(string(n.kind)).Inc()
		s.log.ErrorContext(ctx, "oversight message failed", "kind", n.kind, "msg_id", r.ID,
			"mailbox", env.sender.mbox.Address, "to", env.sender.mbox.OversightAddress, "err", err)
		return
	}
	s.metrics.oversightSent.WithLabelValues(string(n.kind)).Inc()
	s.log.InfoContext(ctx, "oversight message queued", "kind", n.kind, "msg_id", r.ID,
		"oversight_msg_id", id, "to", env.sender.mbox.OversightAddress)
}

// enqueueNotice builds, signs and enqueues one oversight message; no Approval, never Monitored.
func (s *Submitter) enqueueNotice(ctx context.Context, n *notice) (string, error) {
	raw, err := buildNotice(n, s.messageIDHeader(n.msgID))
	if err != nil {
		return "", fmt.Errorf("submission: build oversight %s: %w", n.kind, err)
	}
	dom := n.env.sender.domain
	signed, err := s.sign(raw, dom)
	if err != nil {
		return "", err
	}
	signed, err = s.release(signed, dom, identity.Header{Mailbox: oversightLocal + "@" + dom.Name,
		Mode: modeSystem, Release: identity.ReleaseAutonomous, At: n.now, Msg: n.msgID})
	if err != nil {
		return "", err
	}
	lane := queue.LaneNormal
	if n.kind == noticeApproval {
		lane = queue.LaneHigh
	}
	r, err := s.opts.Queue.Enqueue(ctx, &queue.Message{
		ID: n.msgID, From: s.opts.Queue.BounceAddress(n.msgID, dom.Name),
		To: []string{n.env.sender.mbox.OversightAddress}, Subject: noticeSubject(n),
		Lane: lane, Body: signed, Source: oversightSource,
	})
	if err != nil {
		return "", fmt.Errorf("submission: enqueue oversight %s: %w", n.kind, err)
	}
	return r.ID, nil
}

// noticeSubject is the Subject of an oversight message.
func noticeSubject(n *notice) string {
	subj := oneLine(n.env.subject)
	if n.kind == noticeApproval {
		return "Approval needed: " + subj
	}
	return "Monitored send: " + subj
}

// buildNotice writes the oversight message: multipart/mixed with a text/plain explanation and
// the user's message as message/rfc822.
func buildNotice(n *notice, msgIDHeader string) ([]byte, error) {
	var h mail.Header
	h.SetDate(n.now)
	h.SetMessageID(msgIDHeader)
	from := oversightLocal + "@" + n.env.sender.domain.Name
	h.SetAddressList("From", []*mail.Address{{Name: "multimail oversight", Address: from}})
	h.SetAddressList("To", []*mail.Address{{Address: n.env.sender.mbox.OversightAddress}})
	h.SetSubject(noticeSubject(n))
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Multimail-Oversight", string(n.kind))
	h.SetContentType("multipart/mixed", nil)
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, err
	}
	if err := writePart(w, textHeader(), []byte(toCRLF(noticeText(n)))); err != nil {
		return nil, err
	}
	if err := writePart(w, rfc822Header(n), n.original); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// textHeader is the header of the explanation part.
func textHeader() message.Header {
	var h message.Header
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	return h
}

// rfc822Header is the header of the attached user's message. A message/rfc822 part may only be
// 7bit, 8bit or binary (RFC 2046 §5.2.1): it travels as it was submitted.
func rfc822Header(n *notice) message.Header {
	var h message.Header
	h.SetContentType("message/rfc822", nil)
	name := "held-message.eml"
	if n.kind == noticeCopy {
		name = "sent-message.eml"
	}
	h.SetContentDisposition("inline", map[string]string{"filename": name})
	cte := "7bit"
	if has8bit(n.original) {
		cte = "8bit"
	}
	h.Set("Content-Transfer-Encoding", cte)
	return h
}

// writePart writes one part of w.
func writePart(w *message.Writer, h message.Header, body []byte) error {
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write(body); err != nil {
		return err
	}
	return pw.Close()
}

// noticeText is the explanation of an oversight message.
func noticeText(n *notice) string {
	var b strings.Builder
	mbox := n.env.sender.mbox.Address
	if n.kind == noticeApproval {
		fmt.Fprintf(&b, "The mailbox %s wants to send a message that needs your approval.\n\n", mbox)
		fmt.Fprintf(&b, "Approval:   %s\n", n.approvalID)
	} else {
		fmt.Fprintf(&b, "The mailbox %s (oversight mode: monitored) sent this message.\n\n", mbox)
	}
	fmt.Fprintf(&b, "Message:    %s\nFrom:       %s\nRecipients: %s\nSubject:    %s\n",
		n.origID, mbox, strings.Join(n.env.rcpts, ", "), oneLine(n.env.subject))
	if n.kind == noticeApproval {
		writeLinks(&b, n)
		writeDecide(&b, n.approvalID)
		b.WriteString("\nThe held message is attached.\n")
	} else {
		b.WriteString("\nThe message, as sent, is attached.\n")
	}
	return b.String()
}

// writeLinks writes the one-click links, in this fixed explanation part that multimail writes
// (the held message is only ever the attachment below it). Each opens a confirmation page:
// following a link decides nothing, so a mail scanner that fetches it does no harm.
func writeLinks(w io.Writer, n *notice) {
	if n.approveURL == "" {
		return
	}
	fmt.Fprintf(w, "\nTo decide in the browser (each link opens a confirmation page; it works once):\n")
	fmt.Fprintf(w, "Approve: %s\nReject:  %s\n", n.approveURL, n.rejectURL)
}

// writeDecide tells the overseer how to approve or reject.
func writeDecide(w io.Writer, id string) {
	fmt.Fprintf(w, "\nTo approve it, run\n    multimail approvals approve %s\n", id)
	fmt.Fprintf(w, "or POST /v1/approvals/%s/approve with an operator key (approve scope).\n", id)
	fmt.Fprintf(w, "To reject it, run\n    multimail approvals reject %s\n", id)
	fmt.Fprintf(w, "or POST /v1/approvals/%s/reject with an operator key (approve scope).\n", id)
}

// oneLine replaces control characters (a decoded Subject may hold CR or LF) with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// has8bit reports a byte outside US-ASCII.
func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}
