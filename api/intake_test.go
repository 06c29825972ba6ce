package api

import (
	"encoding/json"
	"sync"
	"testing"

	"multimail.dev/multimail/diskfloor"
)

// fakeIntake is a disk whose floor state the test sets.
type fakeIntake struct {
	mu    sync.Mutex
	below bool
}

func (f *fakeIntake) set(below bool) {
	f.mu.Lock()
	f.below = below
	f.mu.Unlock()
}

func (f *fakeIntake) Status() diskfloor.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := diskfloor.Status{Free: 500 << 20, MinFree: 100 << 20, Ballast: 64 << 20}
	if f.below {
		st.Free, st.Ballast, st.Below = 3<<20, 0, true
	}
	return st
}

func (f *fakeIntake) Admit() error {
	if f.Status().Below {
		return diskfloor.ErrInsufficientStorage
	}
	return nil
}

func TestIntakeRefusedBelowTheFloor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	in := &fakeIntake{below: true}
	e.srv.opts.Intake = in
	send := map[string]any{"mailbox_id": "auth@yourproduct.com", "to": "x@example.org", "subject": "s", "text": "t"}

	r := e.do("POST", "/v1/send_email", "send", send)
	code, _, _ := r.apiError(t)
	if r.status != 503 || code != CodeInsufficientStorage || r.header.Get("Retry-After") != "30" {
		t.Fatalf("send below the floor: %d %s Retry-After=%q", r.status, r.body, r.header.Get("Retry-After"))
	}
	// Authentication still comes first: no disk state for strangers.
	if r := e.do("POST", "/v1/send_email", "mm_live_nope", send); r.status != 401 {
		t.Fatalf("bad key below the floor: %d", r.status)
	}
	// Reading goes on.
	if r := e.do("GET", "/v1/approvals", "send", nil); r.status != 200 {
		t.Fatalf("read below the floor: %d %s", r.status, r.body)
	}
	checkHealth(t, e, 200, "insufficient_storage", 503)

	in.set(false)
	if r := e.do("POST", "/v1/send_email", "send", send); r.status != 202 {
		t.Fatalf("send above the floor: %d %s", r.status, r.body)
	}
	checkHealth(t, e, 200, "ok", 200)
}

// checkHealth asserts /healthz and /readyz.
func checkHealth(t *testing.T, e *testEnv, healthz int, status string, readyz int) {
	t.Helper()
	for path, want := range map[string]int{"/healthz": healthz, "/readyz": readyz} {
		r := e.do("GET", path, "", nil)
		var h health
		if err := json.Unmarshal(r.body, &h); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if r.status != want || h.Status != status || h.Storage == nil || h.Storage.MinFreeBytes != 100<<20 {
			t.Fatalf("%s = %d %s, want %d status %s", path, r.status, r.body, want, status)
		}
	}
}
