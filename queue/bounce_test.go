package queue

import (
	"strings"
	"testing"
	"time"
)

func TestBounceAddress(t *testing.T) {
	t.Parallel()
	id := NewMessageID(time.Unix(1700000000, 0))
	if !strings.HasPrefix(id, "msg_") || len(id) != 30 {
		t.Fatalf("id = %q", id)
	}
	addr := BounceAddress(id, "Example.COM")
	if addr != "bounce+"+id+"@example.com" {
		t.Fatalf("BounceAddress = %q", addr)
	}
	for _, in := range []string{addr, strings.ToLower(addr), strings.ToUpper(addr)} {
		if got, ok := ParseBounceAddress(in); !ok || got != id {
			t.Errorf("ParseBounceAddress(%q) = %q, %v; want %q", in, got, ok, id)
		}
	}
}

func TestParseBounceAddress(t *testing.T) {
	t.Parallel()
	const id = "msg_01KAAAAAAAAAAAAAAAAAAAAAAA"
	for _, tc := range []struct {
		name, addr, want string
		ok               bool
	}{
		{"canonical", "bounce+" + id + "@example.com", id, true},
		{"case folded by a relay", "BOUNCE+MSG_01kaaaaaaaaaaaaaaaaaaaaaaa@example.com", id, true},
		{"25 chars", "bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAA@example.com", "", false},
		{"over 128 bits", "bounce+msg_81KAAAAAAAAAAAAAAAAAAAAAAA@example.com", "", false},
		{"U is not Crockford", "bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAAU@example.com", "", false},
		{"I is not Crockford", "bounce+msg_" + strings.Repeat("I", 26) + "@example.com", "", false},
		{"not a message id", "bounce+em_01KAAAAAAAAAAAAAAAAAAAAAAA@example.com", "", false},
		{"approval id", "bounce+apr_01KAAAAAAAAAAAAAAAAAAAAAAA@example.com", "", false},
		{"empty id", "bounce+msg_@example.com", "", false},
		{"plain mailbox", "agent@example.com", "", false},
		{"no domain", "bounce+" + id, "", false},
		{"empty", "", "", false},
	} {
		got, ok := ParseBounceAddress(tc.addr)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: ParseBounceAddress(%q) = %q, %v; want %q, %v", tc.name, tc.addr, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMessageIDsSortByTime(t *testing.T) {
	t.Parallel()
	a := NewMessageID(time.UnixMilli(1700000000000))
	b := NewMessageID(time.UnixMilli(1700000000001))
	if a >= b {
		t.Fatalf("%s >= %s", a, b)
	}
}

func FuzzParseBounceAddress(f *testing.F) {
	f.Add(BounceAddress(NewMessageID(time.Unix(1, 0)), "example.com"))
	f.Add("bounce+msg_@x")
	f.Add("a@b")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseBounceAddress(s)
		if !ok {
			return
		}
		if again, ok2 := ParseBounceAddress(BounceAddress(id, "example.com")); !ok2 || again != id {
			t.Fatalf("round trip of %q: %q %v", id, again, ok2)
		}
	})
}
