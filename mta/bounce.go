package mta

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"

	"multimail.dev/multimail/mta/dsn"
	"multimail.dev/multimail/queue"
)

// dsnSubject is the Subject of every DSN, also used for queue listings.
const dsnSubject = "Undelivered Mail Returned to Sender"

// bounce sends one DSN for the lease's recipients that bounced or failed. A message with the
// null sender gets none: never bounce a bounce (RFC 5321 §4.5.5). Expired recipients get none
// either: the sender chose the deadline and hears of it through the event journal.
func (d *Deliverer) bounce(ctx context.Context, l *queue.Lease, body []byte, finals []queue.Final, log *slog.Logger) {
	rcpts := dsnRecipients(finals, d.opts.Clock)
	if len(rcpts) == 0 || l.From == "" {
		return
	}
	if d.opts.DSN == nil {
		d.metrics.dsns.WithLabelValues("dropped").Inc()
		log.Warn("DSN dropped: no DSN sink configured", "rcpts", len(rcpts))
		return
	}
	msg, err := d.buildDSN(ctx, l, body, rcpts)
	if err == nil {
		err = d.opts.DSN(ctx, msg)
	}
	if err != nil {
		d.metrics.dsns.WithLabelValues("error").Inc()
		log.Error("DSN", "err", err)
		return
	}
	d.metrics.dsns.WithLabelValues("sent").Inc()
}

func dsnRecipients(finals []queue.Final, now interface{ Now() time.Time }) []dsn.Recipient {
	var out []dsn.Recipient
	for _, f := range finals {
		if f.Event != queue.EventBounced && f.Event != queue.EventFailed {
			continue
		}
		out = append(out, dsnRecipient(f, now.Now()))
	}
	return out
}

func dsnRecipient(f queue.Final, at time.Time) dsn.Recipient {
	r := dsn.Recipient{Address: f.Recipient, Status: f.EnhancedCode, RemoteMTA: f.MXHost,
		LastAttempt: at, Diagnostic: f.Detail, DiagnosticType: "X-Multimail"}
	if r.Status == "" {
		r.Status = "5.0.0"
		if f.Event == queue.EventFailed {
			r.Status = "4.4.7" // delivery time expired (RFC 3463)
		}
	}
	if f.SMTPCode != 0 {
		r.DiagnosticType = "smtp"
		r.Diagnostic = fmt.Sprintf("%d %s %s", f.SMTPCode, r.Status, f.Detail)
	}
	return r
}

// buildDSN renders the DSN for l as a queue message from the null sender.
func (d *Deliverer) buildDSN(ctx context.Context, l *queue.Lease, body []byte, rcpts []dsn.Recipient) (*queue.Message, error) {
	host := d.opts.Hostname
	rep := dsn.Report{ReportingMTA: host, From: "MAILER-DAEMON@" + host, To: l.From,
		EnvelopeID: l.MsgID, Date: d.opts.Clock.Now(), Recipients: rcpts, Original: body,
		MessageID: l.MsgID + "." + rand.Text() + "@" + host}
	if st, err := d.q.Status(ctx, l.MsgID); err == nil {
		rep.Arrival = st.QueuedAt
	}
	raw, err := dsn.Build(rep)
	if err != nil {
		return nil, fmt.Errorf("build DSN for %s: %w", l.MsgID, err)
	}
	return &queue.Message{From: "", To: []string{l.From}, Subject: dsnSubject,
		Lane: queue.LaneNormal, Body: raw, Source: "dsn"}, nil
}
