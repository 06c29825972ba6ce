package queue

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestCorruptRecordsAreSkipped: a corrupt record is logged and skipped, never fatal.
func TestCorruptRecordsAreSkipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Subscribers: []Subscriber{{ID: "a"}}})
	good := h.send(LaneNormal, "a@x.example")
	bad := h.send(LaneNormal, "b@x.example")
	badID, _ := parseID(prefixMsg, bad)
	b := h.db.NewBatch()
	set(b, msgKey(badID), []byte{9, '{'})                         // unknown version
	set(b, []byte{'q', famSched, 1, 2}, nil)                      // truncated schedule key
	set(b, leaseKey(fixedULID(5)), []byte("garbage"))             // corrupt lease
	set(b, domainKey("y.example"), []byte{valueV1, '['})          // corrupt domain state
	set(b, outboxKey("a", "msg_x", 1), []byte{valueV1, 'n', 'o'}) // corrupt outbox entry
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	h.restart()
	l := h.next()
	if l.MsgID != good {
		t.Fatalf("lease %s, want the readable message", l.MsgID)
	}
	h.none() // the unreadable one was dropped from the schedule
	if _, err := h.q.Status(t.Context(), bad); !isErr(err, ErrCorrupt) {
		t.Fatalf("Status of corrupt message = %v", err)
	}
}
