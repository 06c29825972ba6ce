package model

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckTrail(t *testing.T) {
	t.Parallel()
	steps := func(evs ...string) []Step {
		var s []Step
		for _, e := range evs {
			ev, rcpt, _ := strings.Cut(e, " ")
			s = append(s, Step{Event: ev, Recipient: rcpt})
		}
		return s
	}
	cases := []struct {
		name  string
		trail []Step
		bad   int // index of the first refused step, -1 for none
	}{
		{"autonomous delivered", steps("queued", "delivered a@x"), -1},
		{"monitored", steps("queued", "monitored", "deferred a@x", "delivered a@x"), -1},
		{"held approved delivered", steps("pending_approval", "approved", "queued", "delivered a@x", "bounced b@x"), -1},
		{"rule approved", steps("approved", "queued", "delivered a@x"), -1},
		{"rule rejected", steps("rejected"), -1},
		{"held, deleted by admin", steps("pending_approval", "failed a@x", "failed b@x"), -1},
		{"late DSN after delivered", steps("queued", "delivered a@x", "bounced a@x"), -1},
		{"in flight prefix", steps("pending_approval", "approved"), -1},
		{"held then delivered", steps("pending_approval", "delivered a@x"), 1},
		{"held, queued without approval", steps("pending_approval", "queued"), 1},
		{"rejected then delivered", steps("pending_approval", "rejected", "queued", "delivered a@x"), 2},
		{"decided twice", steps("pending_approval", "approved", "rejected"), 2},
		{"two terminal outcomes", steps("queued", "bounced a@x", "delivered a@x"), 2},
		{"delivered twice", steps("queued", "delivered a@x", "delivered a@x"), 2},
		{"two late bounces", steps("queued", "delivered a@x", "bounced a@x", "bounced a@x"), 3},
		{"deferred after expired", steps("queued", "expired a@x", "deferred a@x"), 2},
		{"outcome before queued", steps("deferred a@x"), 0},
		{"queued twice", steps("queued", "queued"), 1},
		{"no recipient", steps("queued", "delivered"), 1},
		{"scheduled then delivered", steps("queued", "scheduled", "delivered a@x"), -1},
		{"held, approved, scheduled", steps("pending_approval", "approved", "queued", "scheduled", "delivered a@x"), -1},
		{"scheduled while held", steps("pending_approval", "scheduled"), 1},
		{"scheduled, cancelled", steps("queued", "scheduled", "cancelled a@x", "cancelled b@x"), -1},
		{"cancel after the attempt's outcome", steps("queued", "deferred a@x", "delivered b@x", "cancelled a@x"), -1},
		{"held, cancelled", steps("pending_approval", "cancelled a@x"), -1},
		{"delivered after cancelled", steps("queued", "cancelled a@x", "delivered a@x"), 2},
		{"cancelled after delivered", steps("queued", "delivered a@x", "cancelled a@x"), 2},
		{"complained, unsubscribed after delivered", steps("queued", "delivered a@x", "complained a@x", "unsubscribed a@x", "bounced a@x"), -1},
		{"complained before delivery", steps("queued", "deferred a@x", "complained a@x"), 2},
		{"unsubscribed by a recipient never delivered", steps("queued", "delivered a@x", "unsubscribed b@x"), 2},
	}
	for _, c := range cases {
		err := CheckTrail(c.trail)
		var te *TrailError
		switch {
		case c.bad < 0 && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad >= 0 && !errors.As(err, &te):
			t.Errorf("%s: accepted, want step %d refused", c.name, c.bad)
		case c.bad >= 0 && te.Index != c.bad:
			t.Errorf("%s: %v, want step %d refused", c.name, err, c.bad)
		}
	}
}
