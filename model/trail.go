package model

// trail.go: the model's transition rules over the events a message's trail records, so that
// real trails (the queue's journal, as the API and the webhooks show it) can be replayed
// against gating.pml's state machine.

import "fmt"

// Step is one event of a message's trail: its type ("queued", "delivered", …) and, for
// recipient events, the recipient.
type Step struct {
	Event     string
	Recipient string
}

// TrailError names the first step of a trail that the model does not allow.
type TrailError struct {
	Index int
	Step  Step
	Why   string
}

func (e *TrailError) Error() string {
	return fmt.Sprintf("trail step %d (%s %s): %s", e.Index, e.Step.Event, e.Step.Recipient, e.Why)
}

// message states of gating.pml, as a trail shows them
type msgState int

const (
	msgNew      msgState = iota // nothing recorded yet
	msgHeld                     // pending_approval: A_PENDING
	msgApproved                 // approved (by a person or a rule), queued not yet recorded
	msgReleased                 // queued: sched, leases, attempts
	msgRejected                 // rejected (by a person or a rule): R_REJECTED for all
	msgClosed                   // a held message closed without release (deleted by an admin)
)

// recipient states
type rcptState int

const (
	rcptPending   rcptState = iota
	rcptDelivered           // R_DELIVERED; a later DSN may still report it bounced, once
	rcptFinal               // bounced, failed, expired: nothing follows
)

// CheckTrail replays one message's trail, in journal order, through the model's transition
// rules and returns a *TrailError for the first step the model forbids. A trail may be a
// prefix of the whole (mail still in flight): only what it holds is judged.
//
// The rules, from gating.pml: a held message is released only by an approval and a rejected
// one never is; no attempt outcome (delivered, deferred, bounced, failed, expired) is recorded
// for a message before it is released, except a held message an admin deleted (failed); a
// recipient has one terminal outcome, and the only outcome after "delivered" is one "bounced"
// from a DSN that came back later (the MX accepted, the final destination did not); after
// delivery the recipient's "complained" and "unsubscribed" may follow (no state change).
func CheckTrail(steps []Step) error {
	t := trail{rcpt: map[string]rcptState{}, lateBounced: map[string]bool{}}
	for i, s := range steps {
		if why := t.step(s); why != "" {
			return &TrailError{Index: i, Step: s, Why: why}
		}
	}
	return nil
}

type trail struct {
	msg         msgState
	rcpt        map[string]rcptState
	lateBounced map[string]bool
}

func (t *trail) step(s Step) string {
	switch s.Event {
	case "pending_approval":
		return t.move(msgNew, msgHeld, s)
	case "approved":
		if t.msg != msgNew && t.msg != msgHeld {
			return "approved when not awaiting a decision"
		}
		t.msg = msgApproved
	case "rejected":
		if t.msg != msgNew && t.msg != msgHeld {
			return "rejected when not awaiting a decision"
		}
		t.msg = msgRejected
	case "queued":
		if t.msg != msgNew && t.msg != msgApproved {
			return "queued without an approval while held, or twice"
		}
		t.msg = msgReleased
	case "monitored":
		if t.msg != msgReleased {
			return "monitored before the message was queued"
		}
	case "scheduled": // released with its first attempt held until send_at
		if t.msg != msgReleased {
			return "scheduled before the message was queued"
		}
	case "delivered", "deferred", "bounced", "failed", "expired", "cancelled":
		return t.outcome(s)
	case "complained", "unsubscribed": // the recipient's report or click, after delivery
		if st := t.rcpt[s.Recipient]; s.Recipient == "" || st != rcptDelivered {
			return s.Event + " for a recipient the message was not delivered to"
		}
	default:
		return "not an event of a message's trail"
	}
	return ""
}

func (t *trail) move(from, to msgState, s Step) string {
	if t.msg != from {
		return s.Event + " out of order"
	}
	t.msg = to
	return ""
}

// outcome judges a recipient event.
func (t *trail) outcome(s Step) string {
	if s.Recipient == "" {
		return "a recipient event without a recipient"
	}
	switch t.msg {
	case msgReleased:
	case msgHeld, msgClosed:
		if s.Event != "failed" && s.Event != "cancelled" {
			return "an attempt outcome for a held message"
		}
		t.msg = msgClosed
		return t.final(s)
	default:
		return "an attempt outcome for a message that was never released"
	}
	switch st := t.rcpt[s.Recipient]; {
	case st == rcptDelivered && s.Event == "bounced" && !t.lateBounced[s.Recipient]:
		t.lateBounced[s.Recipient] = true // a DSN that came back after the MX accepted
		return ""
	case st != rcptPending:
		return "a second outcome for a recipient that already had its terminal one"
	case s.Event == "deferred":
		return ""
	case s.Event == "delivered":
		t.rcpt[s.Recipient] = rcptDelivered
		return ""
	}
	return t.final(s)
}

func (t *trail) final(s Step) string {
	if t.rcpt[s.Recipient] != rcptPending {
		return "a second terminal outcome for a recipient"
	}
	t.rcpt[s.Recipient] = rcptFinal
	return ""
}
