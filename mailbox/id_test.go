package mailbox

import (
	"strings"
	"testing"
	"time"
)

func TestULIDRoundTrip(t *testing.T) {
	t.Parallel()
	g := &idGen{now: func() time.Time { return time.UnixMilli(1700000000000) }}
	prev := ulid{}
	for i := 0; i < 1000; i++ {
		id := g.next()
		s := id.String()
		if len(s) != 3+ulidTextLen || !strings.HasPrefix(s, "em_") {
			t.Fatalf("bad id %q", s)
		}
		back, err := parseEmailID(s)
		if err != nil || back != id {
			t.Fatalf("round trip %q: %v %x != %x", s, err, back, id)
		}
		if i > 0 && (s <= prev.String() || string(id[:]) <= string(prev[:])) {
			t.Fatalf("not monotonic: %s after %s", s, prev)
		}
		if millis(id) != 1700000000000 {
			t.Fatalf("millis = %d", millis(id))
		}
		prev = id
	}
}

func TestParseEmailIDRejects(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]string{
		"empty":     "",
		"no prefix": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
		"short":     "em_01ARZ3NDEKTSV4RRFFQ69G5FA",
		"bad char":  "em_01ARZ3NDEKTSV4RRFFQ69G5FAU",
		"overflow":  "em_81ARZ3NDEKTSV4RRFFQ69G5FAV",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseEmailID(s); err == nil {
				t.Fatalf("parseEmailID(%q) accepted", s)
			}
		})
	}
}
