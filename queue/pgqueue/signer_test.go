package pgqueue_test

import (
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// TestSignerShared: the VERP key is one for all nodes (the first Open makes it), so a return
// path or an unsubscribe token made on one node verifies on another; a forged tag does not.
func TestSignerShared(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	a, b := open(t, pool, queue.Options{}), open(t, pool, queue.Options{})
	id := queue.NewMessageID(time.Now())
	addr := a.BounceAddress(id, "Example.COM")
	if !strings.HasPrefix(addr, "bounce+"+id+".") || !strings.HasSuffix(addr, "@example.com") {
		t.Fatalf("bounce address %q", addr)
	}
	if got, ok := b.ParseBounceAddress(strings.ToUpper(addr)); !ok || got != id {
		t.Fatalf("other node parsed %q as %q, %v", addr, got, ok)
	}
	forged := "bounce+" + id + "." + strings.Repeat("a", 16) + "@example.com"
	if _, ok := b.ParseBounceAddress(forged); ok {
		t.Fatal("forged tag accepted")
	}
	tok := a.UnsubscribeToken("example.com", "x@d.example", id)
	if d, r, m, ok := b.ParseUnsubscribeToken(tok); !ok || d != "example.com" || r != "x@d.example" || m != id {
		t.Fatalf("other node parsed the token as %q %q %q %v", d, r, m, ok)
	}
	if _, _, _, ok := b.ParseUnsubscribeToken(tok + "x"); ok {
		t.Fatal("altered token accepted")
	}
}
