package inbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// deliver verifies the message and stores one copy per local recipient, each with our
// Authentication-Results and Received fields on top and forged Authentication-Results and
// Multimail-Identity fields removed, then records a "received" event per copy. It returns the email ids.
func (s *session) deliver(raw []byte) ([]string, error) {
	fields, _ := splitHeader(raw)
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.opts.CheckTimeout)
	v := s.srv.checkAuth(ctx, s.env, raw, fields)
	cancel()
	s.srv.metrics.observe(v)
	s.log.Info("authentication", "spf", v.spf, "dkim", len(v.dkim), "dmarc", v.dmarc.result,
		"from_domain", v.dmarc.fromDomain, "action", v.dmarc.action)
	if v.dmarc.action == actionReject {
		s.srv.metrics.messages.WithLabelValues("rejected").Inc()
		return nil, fmt.Errorf("%w: %s", ErrDMARCReject, v.dmarc.fromDomain)
	}
	stripped, forged := stripForgedAuthResults(raw, s.srv.opts.Hostname)
	if forged > 0 {
		s.log.Info("removed forged Authentication-Results", "count", forged)
	}
	stripped, forged = stripForgedIdentity(stripped, func(d string) bool {
		_, err := s.srv.opts.Store.Domain(s.ctx, d)
		return err == nil
	})
	if forged > 0 {
		s.log.Info("removed forged Multimail-Identity", "count", forged)
	}
	ar := authResultsField(s.srv.opts.Hostname, s.env, v)
	msgs := make([][]byte, len(s.rcpts))
	for i, mb := range s.rcpts {
		msgs[i] = s.compose(ar, mb.Address, stripped)
		// Every recipient is checked before any copy is stored: one over quota defers the
		// message for all (SMTP has one DATA reply), and a retry then stores no duplicate.
		if err := s.srv.roomFor(s.ctx, mb.Address, int64(len(msgs[i]))); err != nil {
			s.srv.metrics.messages.WithLabelValues("rejected").Inc()
			return nil, err
		}
	}
	var ids []string
	for i, mb := range s.rcpts {
		msg := msgs[i]
		id, err := s.store(mb, msg, v.dmarc.action == actionQuarantine)
		if err != nil {
			s.srv.metrics.messages.WithLabelValues("error").Inc()
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// compose puts our trace and authentication fields on top of the message (RFC 8601 §5 asks
// for Authentication-Results above the Received: fields of the receiving hop).
func (s *session) compose(ar, rcpt string, raw []byte) []byte {
	_, tls := s.conn.TLSConnectionState()
	rcv := receivedField(receivedInfo{
		helo: s.env.helo, ip: s.env.ip.String(), by: s.srv.opts.Hostname,
		id: fmt.Sprintf("%s.%d", s.id, s.seq), rcpt: rcpt, tls: tls, utf8: s.utf8, at: s.srv.now(),
	})
	var b bytes.Buffer
	b.Grow(len(ar) + len(rcv) + len(raw))
	b.WriteString(ar)
	b.WriteString(rcv)
	b.Write(raw)
	return b.Bytes()
}

// store delivers one copy into INBOX (Junk when DMARC asks for quarantine), held for
// approval in a gated_all mailbox, and records the "received" event. The store commits with
// sync before it returns. A failure to record the event is logged, not returned: the mail is
// stored, and a retry by the client would store it twice.
func (s *session) store(mb mailbox.Mailbox, msg []byte, junk bool) (string, error) {
	folder := mailbox.InboxName
	if junk {
		folder = "Junk"
	}
	o := mailbox.DeliverOptions{Pending: mb.Oversight == mailbox.GatedAll, QuotaBytes: s.srv.opts.MailboxQuota}
	em, err := s.srv.opts.Store.Deliver(s.ctx, mb.Address, folder, msg, o)
	if junk && errors.Is(err, mailbox.ErrNoSuchFolder) {
		em, err = s.srv.opts.Store.Deliver(s.ctx, mb.Address, mailbox.InboxName, msg, o)
	}
	if err != nil {
		return "", fmt.Errorf("deliver to %s: %w", mb.Address, err)
	}
	outcome := "delivered"
	if junk {
		outcome = "quarantined"
	}
	s.srv.metrics.messages.WithLabelValues(outcome).Inc()
	s.log.Info("stored", "mailbox", mb.Address, "email_id", em.ID, "folder", em.Folder,
		"pending", em.Pending, "size", len(msg))
	s.recordReceived(mb.Address, em, msg)
	return em.ID, nil
}

// recordReceived appends the "received" event that webhooks fan out.
func (s *session) recordReceived(mailboxID string, em mailbox.Email, msg []byte) {
	if s.srv.opts.Queue == nil {
		return
	}
	emailID := em.ID
	ev := queue.Event{Type: queue.EventReceived, MsgID: emailID, Time: s.srv.now(),
		MailboxID: mailboxID, EmailID: emailID}
	if s.srv.opts.Summarize != nil {
		ev.Received = s.srv.opts.Summarize(em, msg)
	}
	if err := s.srv.opts.Queue.Record(s.ctx, ev); err != nil {
		s.log.Error("recording received event", "email_id", emailID, "err", err)
	}
}

// handleBounces turns a DSN sent to bounce addresses into "bounced" events on the original
// messages. A message that is not a DSN is dropped with a log line (accepting it avoids
// backscatter; there is nothing to store). An unknown message id is logged and ignored; any
// other failure is returned so that the reporting MTA retries.
func (s *session) handleBounces(raw []byte) error {
	if len(s.bounces) == 0 {
		return nil
	}
	dsn, err := ParseDSN(bytes.NewReader(raw))
	if err != nil {
		if a, aerr := ParseARF(bytes.NewReader(raw)); aerr == nil { // a feedback loop to the return path
			for _, b := range s.bounces {
				if err := s.recordComplaint(a, b.msgID); err != nil {
					return err
				}
			}
			s.srv.metrics.messages.WithLabelValues("complaint").Inc()
			return nil
		}
		s.log.Info("message to a bounce address is not a DSN, dropped", "err", err)
		s.srv.metrics.messages.WithLabelValues("dropped").Inc()
		return nil
	}
	for _, b := range s.bounces {
		if err := s.recordBounces(b, dsn); err != nil {
			return err
		}
	}
	s.srv.metrics.messages.WithLabelValues("dsn").Inc()
	return nil
}

// recordBounces records one "bounced" event per failed recipient of dsn on message b.msgID.
func (s *session) recordBounces(b bounceRcpt, dsn *DSN) error {
	for _, r := range dsn.Recipients {
		if r.Action != "failed" {
			s.log.Info("dsn", "msg_id", b.msgID, "recipient", r.Recipient(), "action", r.Action)
			continue
		}
		ev := queue.Event{Type: queue.EventBounced, MsgID: b.msgID, Time: s.srv.now(),
			Recipient: r.Recipient(), SMTPCode: r.SMTPCode(), EnhancedCode: r.Status,
			Detail: bounceDetail(r, dsn)}
		err := s.srv.opts.Queue.Record(s.ctx, ev)
		if errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrInvalid) {
			s.log.Info("dsn for an unknown message or recipient, ignored", "msg_id", b.msgID,
				"recipient", ev.Recipient, "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("record bounce of %s: %w", b.msgID, err)
		}
		s.log.Info("bounce recorded", "msg_id", b.msgID, "recipient", ev.Recipient, "status", r.Status)
	}
	return nil
}

// bounceDetail is the one-line detail of a bounced event: the remote diagnostic when given.
func bounceDetail(r DSNRecipient, dsn *DSN) string {
	if r.DiagnosticCode != "" {
		return clean(r.DiagnosticCode)
	}
	return clean(fmt.Sprintf("DSN from %s: status %s", typedValue(dsn.ReportingMTA), r.Status))
}

// Complainer is what a complaint needs of the queue (*queue.Queue): suppressing a recipient of
// a message we sent, which is refused (queue.ErrNotFound) when the message is not ours or the
// address is not one of its recipients, so a forged report cannot suppress anyone else.
type Complainer interface {
	SuppressMessageRecipient(ctx context.Context, msgID, addr, reason, detail string) error
}

// handleAbuseReport turns an RFC 5965 report sent to abuse@ of a local domain into
// "complaint" suppressions (recordComplaint). The report is delivered to the abuse mailbox as
// well; a message there that is not a report is ordinary mail.
func (s *session) handleAbuseReport(raw []byte) error {
	if !s.abuse {
		return nil
	}
	a, err := ParseARF(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	s.srv.metrics.messages.WithLabelValues("complaint").Inc()
	return s.recordComplaint(a, "")
}

// recordComplaint suppresses, for the sending domain of message msgID (or of the message the
// report's original Message-ID names: msg_…@host, ours), each recipient the report is about
// (ARF.Recipients), with reason "complaint". Only abuse and fraud reports count. Reports about
// a message or address that is not ours are logged and ignored; a store failure is returned,
// so that the reporter retries.
func (s *session) recordComplaint(a *ARF, msgID string) error {
	c, ok := s.srv.opts.Queue.(Complainer)
	if !ok {
		return nil
	}
	if !a.Complaint() {
		s.log.Info("feedback report is not a complaint", "feedback_type", a.FeedbackType)
		return nil
	}
	if msgID == "" {
		msgID = ourMessageID(a.MessageID)
	}
	rcpts := a.Recipients()
	if msgID == "" || len(rcpts) == 0 {
		s.log.Info("complaint names no message or recipient of ours, ignored", "message_id", clean(a.MessageID),
			"recipients", len(rcpts))
		return nil
	}
	detail := clean(fmt.Sprintf("ARF %s report from %s", a.FeedbackType, firstNonEmpty(a.UserAgent, s.env.helo)))
	for _, r := range rcpts {
		err := c.SuppressMessageRecipient(s.ctx, msgID, r, queue.SuppressComplaint, detail)
		if errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrInvalid) {
			s.log.Info("complaint about a message or recipient not ours, ignored", "msg_id", msgID, "recipient", clean(r), "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("record complaint about %s: %w", msgID, err)
		}
		s.log.Info("complaint recorded", "msg_id", msgID, "recipient", clean(r), "feedback_type", a.FeedbackType)
	}
	return nil
}

// ourMessageID is the queue id in a Message-ID we gave (submission: "<msg_…@hostname>"), or "".
func ourMessageID(id string) string {
	local, _, _ := strings.Cut(strings.Trim(strings.TrimSpace(id), "<>"), "@")
	if !strings.HasPrefix(local, "msg_") {
		return ""
	}
	return local
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// roomFor returns mailbox.ErrOverQuota (452 4.2.2) when Options.MailboxQuota is set and the
// mailbox is at or over it, or size more bytes would take it over. The store checks again,
// atomically, when it stores the copy (DeliverOptions.QuotaBytes).
func (srv *Server) roomFor(ctx context.Context, address string, size int64) error {
	q := srv.opts.MailboxQuota
	if q <= 0 {
		return nil
	}
	u, err := srv.opts.Store.Usage(ctx, address)
	if err != nil {
		return fmt.Errorf("usage of %s: %w", address, err)
	}
	if u.Bytes >= q || u.Bytes+size > q {
		return fmt.Errorf("%s: %d of %d bytes used, %d more: %w", address, u.Bytes, q, size, mailbox.ErrOverQuota)
	}
	return nil
}
