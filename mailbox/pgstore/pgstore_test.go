package pgstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"multimail.dev/multimail/internal/pgtest"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/pgstore"
	"multimail.dev/multimail/mailbox/storetest"
	"multimail.dev/multimail/pgdb"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newStore opens a Store on a fresh, migrated schema.
func newStore(t testing.TB) (*pgstore.Store, string) {
	t.Helper()
	return newStoreWith(t, mailbox.Options{})
}

// newStoreWith is newStore with options.
func newStoreWith(t testing.TB, o mailbox.Options) (*pgstore.Store, string) {
	t.Helper()
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, _, err := pgdb.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.Open(ctx, pool, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, dsn
}

func TestRetention(t *testing.T) {
	t.Parallel()
	storetest.Retention(t, func(t *testing.T, o mailbox.Options) mailbox.Store { s, _ := newStoreWith(t, o); return s })
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) mailbox.Store { s, _ := newStore(t); return s })
}
