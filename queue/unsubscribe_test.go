package queue

import (
	"context"
	"strings"
	"testing"
)

// TestUnsubscribeToken: a token names its domain, recipient and message; any change to it, or
// a token of another node, does not verify; Unsubscribe adds an "unsubscribe" entry.
func TestUnsubscribeToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	tok := h.q.UnsubscribeToken("Example.com", "Reader@R.example", "msg_01KAAAAAAAAAAAAAAAAAAAAAAA")
	d, r, id, ok := h.q.ParseUnsubscribeToken(tok)
	if !ok || d != "example.com" || r != "reader@r.example" || id != "msg_01KAAAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("parse: %q %q %q %v", d, r, id, ok)
	}
	p64, t64, _ := strings.Cut(tok, ".")
	other := h.q.UnsubscribeToken("example.com", "someone-else@r.example", "msg_01KAAAAAAAAAAAAAAAAAAAAAAA")
	o64, _, _ := strings.Cut(other, ".")
	for _, bad := range []string{"", tok + "x", p64, "." + t64, o64 + "." + t64, strings.ToUpper(tok), tok[:len(tok)-2]} {
		if _, _, _, ok := h.q.ParseUnsubscribeToken(bad); ok {
			t.Errorf("%q verified", bad)
		}
	}
	h2 := newHarness(t, Options{})
	if _, _, _, ok := h2.q.ParseUnsubscribeToken(tok); ok {
		t.Error("another node's token verified")
	}
	s, err := h.q.Unsubscribe(context.Background(), tok, "one-click")
	if err != nil || s.Reason != SuppressUnsubscribe {
		t.Fatalf("unsubscribe: %+v %v", s, err)
	}
	got, err := h.q.Suppressed(context.Background(), "example.com", []string{"reader@r.example"})
	if err != nil || got["reader@r.example"].Reason != SuppressUnsubscribe || got["reader@r.example"].MsgID == "" {
		t.Fatalf("list: %+v %v", got, err)
	}
	if _, err := h.q.Unsubscribe(context.Background(), other+"x", ""); !isErr(err, ErrNotFound) {
		t.Fatalf("forged: %v", err)
	}
}

func FuzzParseUnsubscribeToken(f *testing.F) {
	db := openDB(f, f.TempDir())
	q, err := Open(db, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { q.Close(); db.Close() })
	f.Add(q.UnsubscribeToken("example.com", "a@b.example", "msg_01KAAAAAAAAAAAAAAAAAAAAAAA"))
	f.Add("e30.AAAA")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		d, r, _, ok := q.ParseUnsubscribeToken(tok)
		if ok && (d == "" || !strings.Contains(r, "@")) {
			t.Fatalf("verified %q: %q %q", tok, d, r)
		}
	})
}
