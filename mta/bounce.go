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

// original is the message a DSN reports on.
type original struct {
	id      string
	from    string    // envelope sender; "" = the null sender
	arrival time.Time // zero: read from the queue
	body    []byte    // nil when unavailable: the DSN then lacks the original header
}

// bounce sends one DSN for the lease's recipients that bounced or failed in Complete.
func (d *Deliverer) bounce(ctx context.Context, l *queue.Lease, body []byte, finals []queue.Final, log *slog.Logger) {
	d.sendDSN(ctx, original{id: l.MsgID, from: l.From, body: body}, finals, log)
}

// OnFinal sends the DSN for recipients that the queue finalised by itself, inside Next
// (failed past MaxLifetime, typically found after downtime); expired recipients get none. It
// is a queue.FinalFunc, and New registers it with the queue (queue.SetOnFinal). The queue
// calls it before it deletes the body, so the DSN carries the original header.
func (d *Deliverer) OnFinal(ctx context.Context, msgID string, finals []queue.Final) {
	if len(dsnRecipients(finals, d.opts.Clock)) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completeTimeout)
	defer cancel()
	log := d.log.With("msg_id", msgID)
	st, err := d.q.Status(ctx, msgID)
	if err != nil {
		d.metrics.dsns.WithLabelValues("error").Inc()
		log.Error("DSN: reading the message", "err", err)
		return
	}
	body, err := d.q.Body(ctx, msgID)
	if err != nil {
		log.Warn("DSN without the original header", "err", err)
	}
	d.sendDSN(ctx, original{id: msgID, from: st.From, arrival: st.QueuedAt, body: body}, finals, log)
}

// sendDSN sends one DSN for the recipients that bounced or failed. A message with the null
// sender gets none: never bounce a bounce (RFC 5321 §4.5.5). Expired recipients get none
// either: the sender chose the deadline and hears of it through the event journal.
func (d *Deliverer) sendDSN(ctx context.Context, orig original, finals []queue.Final, log *slog.Logger) {
	rcpts := dsnRecipients(finals, d.opts.Clock)
	if len(rcpts) == 0 || orig.from == "" {
		return
	}
	if d.opts.DSN == nil {
		d.metrics.dsns.WithLabelValues("dropped").Inc()
		log.Warn("DSN dropped: no DSN sink configured", "rcpts", len(rcpts))
		return
	}
	msg, err := d.buildDSN(ctx, orig, rcpts)
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

// buildDSN renders the DSN about orig as a queue message from the null sender.
func (d *Deliverer) buildDSN(ctx context.Context, orig original, rcpts []dsn.Recipient) (*queue.Message, error) {
	host := d.opts.Hostname
	rep := dsn.Report{ReportingMTA: host, From: "MAILER-DAEMON@" + host, To: orig.from,
		EnvelopeID: orig.id, Date: d.opts.Clock.Now(), Recipients: rcpts, Original: orig.body,
		MessageID: orig.id + "." + rand.Text() + "@" + host, Arrival: orig.arrival}
	if rep.Arrival.IsZero() {
		if st, err := d.q.Status(ctx, orig.id); err == nil {
			rep.Arrival = st.QueuedAt
		}
	}
	raw, err := dsn.Build(rep)
	if err != nil {
		return nil, fmt.Errorf("build DSN for %s: %w", orig.id, err)
	}
	return &queue.Message{From: "", To: []string{orig.from}, Subject: dsnSubject,
		Lane: queue.LaneNormal, Body: raw, Source: "dsn"}, nil
}
