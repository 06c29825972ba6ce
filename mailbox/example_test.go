package mailbox_test

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"multimail.dev/multimail/mailbox"
)

// The caller opens Pebble, hands it to the store, and closes it last.
func ExampleOpenPebble() {
	db, err := pebble.Open("data", &pebble.Options{FS: vfs.NewMem(), Logger: quietLogger{}})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	s, err := mailbox.OpenPebble(db, mailbox.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close() // before the database: it stops the full-text indexer
	ctx := context.Background()
	if err := s.AddMailbox(ctx, mailbox.Mailbox{Address: "agent@example.com", Oversight: mailbox.Autonomous}); err != nil {
		panic(err)
	}
	raw := []byte("From: Alice <alice@example.org>\r\nSubject: Invoice 42\r\n\r\nPlease pay.\r\n")
	e, err := s.Deliver(ctx, "agent@example.com", "INBOX", raw, mailbox.DeliverOptions{})
	if err != nil {
		panic(err)
	}
	// A tag set through the API is an IMAP keyword.
	if _, err := s.SetFlags(ctx, e.ID, []string{"invoice", mailbox.FlagSeen}, nil); err != nil {
		panic(err)
	}
	page, _, err := s.Query(ctx, mailbox.Query{Mailbox: "agent@example.com", Tag: "INVOICE"})
	if err != nil {
		panic(err)
	}
	for _, e := range page {
		fmt.Println(e.Folder, e.UID, e.From, e.Subject, e.Flags, e.Keywords)
	}
	// Output: INBOX 1 [Alice <alice@example.org>] Invoice 42 [\Seen] [invoice]
}
