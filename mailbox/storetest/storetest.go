// Package storetest is the conformance suite every mailbox.Store passes: the
// in-memory store, the Pebble store, and any future backend.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"multimail.dev/multimail/mailbox"
)

// Run runs the suite; newStore returns a fresh, empty store for each subtest
// (and cleans it up with t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) mailbox.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s mailbox.Store)
	}{
		{"Domains", testDomains},
		{"Mailboxes", testMailboxes},
		{"APIKeys", testAPIKeys},
		{"Authenticate", testAuthenticate},
		{"Policy", testPolicy},
		{"AuthCacheFlush", testAuthCacheFlush},
		{"DefaultFolders", testDefaultFolders},
		{"CreateDeleteFolder", testCreateDeleteFolder},
		{"RenameFolder", testRenameFolder},
		{"CreateFolderUse", testCreateFolderUse},
		{"Subscribe", testSubscribe},
		{"Deliver", testDeliver},
		{"DeliverErrors", testDeliverErrors},
		{"Summary", testSummary},
		{"SetFlags", testSetFlags},
		{"ListFlags", testListFlags},
		{"InvalidKeywords", testInvalidKeywords},
		{"CopyMove", testCopyMove},
		{"Expunge", testExpunge},
		{"Changes", testChanges},
		{"SetFlagsIf", testSetFlagsIf},
		{"Query", testQuery},
		{"QueryFilters", testQueryFilters},
		{"QueryText", testQueryText},
		{"Pending", testPending},
		{"Watch", testWatch},
		{"ConcurrentDeliver", testConcurrentDeliver},
		{"Threads", testThreads},
		{"ThreadSubjectFallback", testThreadSubjectFallback},
		{"Usage", testUsage},
		{"QuotaConcurrent", testQuotaConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// ctx returns a context bounded in time for one test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// addMailbox creates address with password "pw" (bcrypt MinCost for speed).
func addMailbox(t *testing.T, s mailbox.Store, address string) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	must(t, err)
	must(t, s.AddMailbox(ctx(t), mailbox.Mailbox{Address: address, PasswordHash: string(h)}))
}

// msg builds a small RFC 5322 message.
func msg(subject string) []byte {
	return fmt.Appendf(nil, "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"+
		"Subject: %s\r\nMessage-ID: <%s@example.org>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\nHello.\r\n",
		subject, subject)
}

// at is a fixed InternalDate, i seconds into a day.
func at(i int) time.Time { return time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC) }

func deliver(t *testing.T, s mailbox.Store, mb, folder, subject string, o mailbox.DeliverOptions) mailbox.Email {
	t.Helper()
	e, err := s.Deliver(ctx(t), mb, folder, msg(subject), o)
	must(t, err)
	return e
}

func uids(es []mailbox.Email) []uint32 {
	out := make([]uint32, len(es))
	for i, e := range es {
		out[i] = e.UID
	}
	return out
}

func subjects(es []mailbox.Email) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Subject
	}
	return out
}

func folder(t *testing.T, s mailbox.Store, mb, name string) mailbox.Folder {
	t.Helper()
	f, err := s.Folder(ctx(t), mb, name)
	must(t, err)
	return f
}

func equal[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}
