package queue

import (
	"strings"
	"testing"
	"time"
)

func TestBounceAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := NewMessageID(h.clock.Now())
	if !strings.HasPrefix(id, "msg_") || len(id) != 30 {
		t.Fatalf("id = %q", id)
	}
	addr := h.q.BounceAddress(id, "Example.COM")
	local, domain, _ := strings.Cut(addr, "@")
	if !strings.HasPrefix(local, "bounce+"+id+".") || len(local) != len("bounce+")+30+1+verpTagLen ||
		len(local) > 64 || domain != "example.com" {
		t.Fatalf("BounceAddress = %q", addr)
	}
	for _, in := range []string{addr, strings.ToLower(addr), strings.ToUpper(addr)} {
		if got, ok := h.q.ParseBounceAddress(in); !ok || got != id {
			t.Errorf("ParseBounceAddress(%q) = %q, %v; want %q", in, got, ok, id)
		}
	}
	// The key survives a restart: addresses made before it still verify.
	h.restart()
	if got, ok := h.q.ParseBounceAddress(addr); !ok || got != id {
		t.Errorf("after restart: ParseBounceAddress(%q) = %q, %v", addr, got, ok)
	}
}

// TestForgedBounceAddress: without the node's key, a return path naming one of our message
// ids does not verify: a forged DSN is not correlated.
func TestForgedBounceAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	other := newHarness(t, Options{}) // another node: another key
	h.clock.Advance(time.Minute)
	id := NewMessageID(h.clock.Now()) // a message sent after the upgrade
	good := h.q.BounceAddress(id, "example.com")
	tag := good[strings.IndexByte(good, '.')+1 : strings.IndexByte(good, '@')]
	flipped := []byte(tag)
	flipped[0] ^= 1
	for name, addr := range map[string]string{
		"untagged":          "bounce+" + id + "@example.com",
		"other node's key":  other.q.BounceAddress(id, "example.com"),
		"tag of another id": "bounce+" + id + "." + h.q.sign.verpTag(NewMessageID(h.clock.Now())) + "@example.com",
		"tag altered":       "bounce+" + id + "." + string(flipped) + "@example.com",
		"tag truncated":     "bounce+" + id + "." + tag[:verpTagLen-1] + "@example.com",
	} {
		if got, ok := h.q.ParseBounceAddress(addr); ok {
			t.Errorf("%s: ParseBounceAddress(%q) = %q, accepted", name, addr, got)
		}
	}
}

// TestUntaggedBounceAddressBeforeUpgrade: a message sent before the key existed (before the
// upgrade) carries an untagged return path; its DSN is accepted for MaxLifetime after the
// upgrade, and not after.
func TestUntaggedBounceAddressBeforeUpgrade(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{MaxLifetime: 48 * time.Hour})
	old := NewMessageID(h.clock.Now().Add(-time.Hour)) // sent by the previous version
	addr := "bounce+" + old + "@example.com"
	if got, ok := h.q.ParseBounceAddress(addr); !ok || got != old {
		t.Fatalf("ParseBounceAddress(%q) = %q, %v; want accepted", addr, got, ok)
	}
	h.clock.Advance(47 * time.Hour)
	h.restart() // the key's creation time is kept, not reset
	if _, ok := h.q.ParseBounceAddress(addr); !ok {
		t.Fatal("refused within MaxLifetime of the upgrade")
	}
	h.clock.Advance(time.Hour)
	if _, ok := h.q.ParseBounceAddress(addr); ok {
		t.Fatal("accepted past MaxLifetime after the upgrade")
	}
}

func TestParseBounceAddressSyntax(t *testing.T) {
	t.Parallel()
	const id = "msg_01KAAAAAAAAAAAAAAAAAAAAAAA"
	const tag = "abcdefghijklmnop"
	for _, tc := range []struct {
		name, addr, want, tag string
		ok                    bool
	}{
		{"untagged", "bounce+" + id + "@example.com", id, "", true},
		{"tagged", "bounce+" + id + "." + tag + "@example.com", id, tag, true},
		{"case folded by a relay", "BOUNCE+MSG_01kaaaaaaaaaaaaaaaaaaaaaaa.ABCDEFGHIJKLMNOP@example.com", id, "ABCDEFGHIJKLMNOP", true},
		{"short tag", "bounce+" + id + ".abc@example.com", "", "", false},
		{"empty tag", "bounce+" + id + ".@example.com", "", "", false},
		{"two tags", "bounce+" + id + "." + tag + "." + tag + "@example.com", "", "", false},
		{"25 chars", "bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAA@example.com", "", "", false},
		{"over 128 bits", "bounce+msg_81KAAAAAAAAAAAAAAAAAAAAAAA@example.com", "", "", false},
		{"U is not Crockford", "bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAAU@example.com", "", "", false},
		{"I is not Crockford", "bounce+msg_" + strings.Repeat("I", 26) + "@example.com", "", "", false},
		{"not a message id", "bounce+em_01KAAAAAAAAAAAAAAAAAAAAAAA@example.com", "", "", false},
		{"approval id", "bounce+apr_01KAAAAAAAAAAAAAAAAAAAAAAA@example.com", "", "", false},
		{"empty id", "bounce+msg_@example.com", "", "", false},
		{"plain mailbox", "agent@example.com", "", "", false},
		{"no domain", "bounce+" + id, "", "", false},
		{"empty", "", "", "", false},
	} {
		got, gotTag, ok := parseBounceAddress(tc.addr)
		if got != tc.want || gotTag != tc.tag || ok != tc.ok {
			t.Errorf("%s: parseBounceAddress(%q) = %q, %q, %v; want %q, %q, %v", tc.name, tc.addr, got, gotTag, ok, tc.want, tc.tag, tc.ok)
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
	f.Add("bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAAA.abcdefghijklmnop@example.com")
	f.Add("bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAAA@example.com")
	f.Add("bounce+msg_@x")
	f.Add("a@b")
	f.Fuzz(func(t *testing.T, s string) {
		id, tag, ok := parseBounceAddress(s)
		if !ok {
			return
		}
		if tag != "" && len(tag) != verpTagLen {
			t.Fatalf("tag %q of %q", tag, s)
		}
		again, tag2, ok2 := parseBounceAddress("bounce+" + id + "." + strings.Repeat("a", verpTagLen) + "@example.com")
		if !ok2 || again != id || tag2 == "" {
			t.Fatalf("round trip of %q: %q %q %v", id, again, tag2, ok2)
		}
	})
}
