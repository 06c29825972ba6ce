package mailbox

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestQueryTextBudget: a Text query that cannot narrow stops after
// textScanBudget verified emails with a cursor, and paging on finds a rare
// match all the same, on both stores in this package.
func TestQueryTextBudget(t *testing.T) {
	old := textScanBudget
	textScanBudget = 3
	t.Cleanup(func() { textScanBudget = old })
	newPebble := func(t *testing.T) Store {
		s, err := OpenPebble(memDB(t, vfs.NewMem()), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for name, newStore := range map[string]func(*testing.T) Store{
		"memory": func(*testing.T) Store { return NewMemory() }, "pebble": newPebble,
	} {
		t.Run(name, func(t *testing.T) {
			s, ctx := newStore(t), context.Background()
			const mb = "a@example.com"
			if err := s.AddMailbox(ctx, Mailbox{Address: mb}); err != nil {
				t.Fatal(err)
			}
			var rare string
			for i := range 10 {
				body := "nothing here"
				if i == 0 {
					body = "the code is QZ"
				}
				raw := fmt.Appendf(nil, "From: a@example.org\r\nSubject: m%d\r\n\r\n%s\r\n", i, body)
				e, err := s.Deliver(ctx, mb, "INBOX", raw, DeliverOptions{InternalDate: time.Unix(int64(1000+i), 0)})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					rare = e.ID
				}
			}
			var got []string
			cursor, shortWithCursor := "", false
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("cursor does not advance")
				}
				page, next, err := s.Query(ctx, Query{Mailbox: mb, Text: "qz", Limit: 5, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					got = append(got, e.ID)
				}
				if next == "" {
					break
				}
				shortWithCursor = shortWithCursor || len(page) < 5
				cursor = next
			}
			if !slices.Equal(got, []string{rare}) || !shortWithCursor {
				t.Fatalf("got %v (want %s), a short page with a cursor: %v", got, rare, shortWithCursor)
			}
		})
	}
}
