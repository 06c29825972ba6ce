package queue

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func fixedULID(b byte) ulid {
	u := newULID(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	for i := 6; i < ulidLen; i++ {
		u[i] = b
	}
	return u
}

func TestULIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		u    ulid
	}{
		{"zero", ulid{}},
		{"max", ulid{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"fixed", fixedULID(0xa5)},
		{"now", newULID(time.Now())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.u.encode()
			if len(s) != ulidStrLen {
				t.Fatalf("len %d", len(s))
			}
			back, err := decodeULID(s)
			if err != nil || back != tc.u {
				t.Fatalf("decode(%s) = %x, %v; want %x", s, back, err, tc.u)
			}
			lower, err := decodeULID(strings.ToLower(s))
			if err != nil || lower != tc.u {
				t.Fatalf("lower-case decode failed: %v", err)
			}
		})
	}
}

func TestULIDSortsByTime(t *testing.T) {
	t.Parallel()
	a := newULID(time.UnixMilli(1000))
	b := newULID(time.UnixMilli(1001))
	if !(a.encode() < b.encode()) || !(string(a[:]) < string(b[:])) {
		t.Fatalf("ids do not sort by time: %s %s", a.encode(), b.encode())
	}
	if got := a.time(); !got.Equal(time.UnixMilli(1000)) {
		t.Fatalf("time() = %v", got)
	}
}

func TestParseIDErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, id string }{
		{"empty", ""},
		{"no prefix", "01JDQ0000000000000000000000"},
		{"short", "msg_01JDQ"},
		{"bad char", "msg_01JDQ000000000000000000U0"},
		{"overflow", "msg_81JDQ0000000000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseID(prefixMsg, tc.id); !isErr(err, ErrInvalid) {
				t.Fatalf("parseID(%q) = %v, want ErrInvalid", tc.id, err)
			}
		})
	}
}

// goldenKeys is one key of every family, built from fixed inputs.
func goldenKeys() [][]byte {
	msg, apr, lse := fixedULID(1), fixedULID(2), fixedULID(3)
	due := time.Date(2026, 11, 25, 9, 0, 30, 500, time.UTC).UnixNano()
	return [][]byte{
		msgKey(msg),
		bodyKey(msg),
		rcptKey(msg, 0),
		rcptKey(msg, 513),
		schedKey(LaneHigh, due, msg, "example.com"),
		schedKey(LaneLow, due, msg, "xn--bcher-kva.example"),
		leaseKey(lse),
		domainKey("example.com"),
		approvalKey(apr),
		holdKey(apr),
		idemKey("agent@example.com", "order-42"),
		eventKey(formatID(prefixMsg, msg), 1),
		eventKey("em_abc", 7),
		outboxKey("wh0", formatID(prefixMsg, msg), 3),
		testOutKey("Agent@Example.com", msg),
		testBodyKey(msg),
		{'q', famTestOut, 0, 9, 'x'},
		{'q', 0x7f, 1, 2},
		{'x', 1},
	}
}

func TestFormatKeyGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	for _, k := range goldenKeys() {
		buf.WriteString(FormatKey(k) + "\n")
	}
	path := filepath.Join("testdata", "keys.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got := buf.String(); got != string(want) {
		t.Fatalf("FormatKey output changed:\n%s\nwant:\n%s", got, want)
	}
}

func TestSchedKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		e    schedEntry
	}{
		{"high", schedEntry{LaneHigh, 1, fixedULID(9), "a.example"}},
		{"low late", schedEntry{LaneLow, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), fixedULID(7), "b"}},
		{"empty domain", schedEntry{LaneNormal, 42, fixedULID(0), ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSchedKey(schedKey(tc.e.lane, tc.e.due, tc.e.id, tc.e.domain))
			if err != nil || got != tc.e {
				t.Fatalf("round trip = %+v, %v; want %+v", got, err, tc.e)
			}
		})
	}
	if _, err := parseSchedKey([]byte{'q', famSched, 0}); !isErr(err, ErrCorrupt) {
		t.Fatalf("short key: %v", err)
	}
}

func TestSchedKeysSortByLaneThenDue(t *testing.T) {
	t.Parallel()
	id := fixedULID(1)
	keys := [][]byte{
		schedKey(LaneNormal, 1, id, "a"),
		schedKey(LaneNormal, 1<<40, id, "a"),
		schedKey(LaneHigh, 5, id, "z"),
		schedKey(LaneHigh, 6, id, "a"),
		schedKey(LaneLow, 0, id, "a"),
	}
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1], keys[i]) >= 0 {
			t.Fatalf("key %d (%s) !< key %d (%s)", i-1, FormatKey(keys[i-1]), i, FormatKey(keys[i]))
		}
	}
}

func TestOutboxKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []outboxRef{
		{"wh0", "msg_01JDQ3W6B00000000000000000", 1},
		{"", "em_1", 1 << 60},
		{strings.Repeat("s", 255), strings.Repeat("m", 255), 0},
	} {
		got, err := parseOutboxKey(outboxKey(tc.sub, tc.subject, tc.seq))
		if err != nil || got != tc {
			t.Fatalf("round trip %+v = %+v, %v", tc, got, err)
		}
	}
	if _, err := parseOutboxKey([]byte{'q', famOutbox, 9, 'a'}); !isErr(err, ErrCorrupt) {
		t.Fatalf("truncated key: %v", err)
	}
}

func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want []byte }{
		{[]byte{'q', 1}, []byte{'q', 2}},
		{[]byte{'q', 0xff}, []byte{'r'}},
		{[]byte{0xff, 0xff}, nil},
	} {
		if got := prefixEnd(tc.in); !bytes.Equal(got, tc.want) {
			t.Fatalf("prefixEnd(%x) = %x, want %x", tc.in, got, tc.want)
		}
	}
}

func FuzzFormatKey(f *testing.F) {
	for _, k := range goldenKeys() {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k []byte) {
		_ = FormatKey(k) // must not panic
		_, _ = parseOutboxKey(k)
		_, _ = parseSchedKey(k)
	})
}

func FuzzDecodeULID(f *testing.F) {
	f.Add("01JDQ3W6B0ABCDEFGHJKMNPQRS")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := decodeULID(s)
		if err == nil && !strings.EqualFold(u.encode(), s) {
			t.Fatalf("decode(%q) re-encodes as %q", s, u.encode())
		}
	})
}

func TestIDGenMonotonic(t *testing.T) {
	t.Parallel()
	var g idGen
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := g.next(now)
	for i := range 1000 {
		at := now
		if i == 500 {
			at = now.Add(-time.Second) // the clock stepped back
		}
		u := g.next(at)
		if string(u[:]) <= string(prev[:]) {
			t.Fatalf("id %d not increasing: %s after %s", i, u.encode(), prev.encode())
		}
		prev = u
	}
}
