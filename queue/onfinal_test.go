package queue

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// finalRecorder is an OnFinal hook that records its calls and whether the body was readable.
type finalRecorder struct {
	q     func() *Queue
	mu    sync.Mutex
	calls []finalCall
}

type finalCall struct {
	msgID    string
	finals   []Final
	bodyRead bool
}

func (r *finalRecorder) hook(ctx context.Context, msgID string, finals []Final) {
	_, err := r.q().Body(ctx, msgID) // also proves no queue lock is held
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, finalCall{msgID: msgID, finals: finals, bodyRead: err == nil})
}

func (r *finalRecorder) get() []finalCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func TestOnFinal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		opts    Options
		setter  bool // register with SetOnFinal instead of Options.OnFinal
		msg     func(now time.Time) *Message
		advance time.Duration
		restart bool
		want    EventType
		detail  string
	}{
		{name: "failed past MaxLifetime after downtime", opts: Options{MaxLifetime: time.Hour},
			msg:     func(time.Time) *Message { return &Message{From: "s@example.com", To: []string{"a@x.example"}} },
			advance: 2 * time.Hour, restart: true, want: EventFailed, detail: "maximum queue lifetime reached"},
		{name: "expired past ExpiresAt", opts: Options{}, setter: true,
			msg: func(now time.Time) *Message {
				return &Message{From: "s@example.com", To: []string{"a@x.example"}, ExpiresAt: now.Add(time.Minute)}
			},
			advance: 2 * time.Minute, want: EventExpired, detail: "expired before delivery"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var h *harness
			rec := &finalRecorder{q: func() *Queue { return h.q }}
			if !tc.setter {
				tc.opts.OnFinal = rec.hook
			}
			h = newHarness(t, tc.opts)
			if tc.setter {
				h.q.SetOnFinal(rec.hook)
			}
			id := h.enqueue(tc.msg(h.clock.Now())).ID
			h.clock.Advance(tc.advance)
			if tc.restart {
				h.restart()
			}
			h.q.Poke()
			h.none()
			calls := rec.get()
			if len(calls) != 1 || calls[0].msgID != id || len(calls[0].finals) != 1 {
				t.Fatalf("calls %+v", calls)
			}
			f := calls[0].finals[0]
			if f.Recipient != "a@x.example" || f.Event != tc.want || f.Detail != tc.detail {
				t.Fatalf("final %+v", f)
			}
			if !calls[0].bodyRead {
				t.Fatal("the body was gone when the hook ran")
			}
			if _, err := h.q.Body(context.Background(), id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("body after the hook: %v, want ErrNotFound", err)
			}
			if ev := h.eventTypes(id); !slices.Equal(ev, []EventType{EventQueued, tc.want}) {
				t.Fatalf("events %v", ev)
			}
		})
	}
}

// TestOnFinalKeepsLastError: a recipient that failed at lease time after deferrals carries
// the last remote reply into its Final (for the DSN).
func TestOnFinalKeepsLastError(t *testing.T) {
	t.Parallel()
	rec := &finalRecorder{}
	h := newHarness(t, Options{MaxLifetime: time.Hour, BackoffInitial: 10 * time.Minute, OnFinal: rec.hook})
	rec.q = func() *Queue { return h.q }
	id := h.send(LaneNormal, "a@x.example")
	h.complete(h.next(), false, deferred("a@x.example")...)
	h.clock.Advance(2 * time.Hour)
	h.restart()
	h.none()
	calls := rec.get()
	if len(calls) != 1 || len(calls[0].finals) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	f := calls[0].finals[0]
	if f.SMTPCode != 451 || f.EnhancedCode != "4.3.0" || f.Detail != "maximum queue lifetime reached; last error: try later" {
		t.Fatalf("final %+v", f)
	}
	if ev := h.eventTypes(id); !slices.Equal(ev, []EventType{EventQueued, EventDeferred, EventFailed}) {
		t.Fatalf("events %v", ev)
	}
}

// TestOnFinalNotFromComplete: Complete returns its Finals and leaves the hook alone; without
// a hook a finalised unit's body goes in the same batch as before.
func TestOnFinalNotFromComplete(t *testing.T) {
	t.Parallel()
	rec := &finalRecorder{}
	h := newHarness(t, Options{MaxLifetime: time.Hour, OnFinal: rec.hook})
	rec.q = func() *Queue { return h.q }
	h.send(LaneNormal, "a@x.example")
	l := h.next()
	f := h.complete(l, false, Result{Recipient: "a@x.example", Outcome: Bounced, SMTPCode: 550})
	if len(f) != 1 || f[0].Event != EventBounced {
		t.Fatalf("finals %+v", f)
	}
	if calls := rec.get(); len(calls) != 0 {
		t.Fatalf("hook called from Complete: %+v", calls)
	}
	h.q.SetOnFinal(nil)
	id := h.send(LaneNormal, "b@y.example")
	h.advance(2 * time.Hour)
	h.none()
	if _, err := h.q.Body(context.Background(), id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("body: %v, want ErrNotFound", err)
	}
	if calls := rec.get(); len(calls) != 0 {
		t.Fatalf("removed hook called: %+v", calls)
	}
}
