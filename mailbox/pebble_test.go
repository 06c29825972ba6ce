package mailbox_test

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/storetest"
)

// openDB opens a Pebble database in a temporary directory, closed at cleanup.
func openDB(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// quietLogger keeps Pebble's info logs out of test output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic("pebble fatal: " + format)
}

func newPebble(t *testing.T) mailbox.Store {
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	s, err := mailbox.OpenPebble(db, mailbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPebbleConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, newPebble)
}

func TestPebbleRetention(t *testing.T) {
	t.Parallel()
	storetest.Retention(t, func(t *testing.T, o mailbox.Options) mailbox.Store {
		db := openDB(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		s, err := mailbox.OpenPebble(db, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
