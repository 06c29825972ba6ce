package queue_test

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/queue/queuetest"
)

// TestConformance runs the conformance suites (queue.Core, the suppression list, approvals) on the Pebble queue (one node: a
// Pebble database belongs to one process, so RunShared does not apply).
func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, o queue.Options) queue.Core { return openMem(t, o) })
	queuetest.RunSuppressions(t, func(t *testing.T, o queue.Options) queuetest.SuppressionQueue { return openMem(t, o) })
	queuetest.RunOversight(t, func(t *testing.T, o queue.Options) queuetest.OversightQueue { return openMem(t, o) })
}

// openMem opens a Pebble queue on an in-memory database.
func openMem(t *testing.T, o queue.Options) *queue.Queue {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(db, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		q.Close()
		db.Close()
	})
	return q
}

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// BenchmarkBackend measures the Pebble queue through queue.Core (queuetest.Bench), on disk
// with the options cmd/multimail uses, for comparison with queue/pgqueue's.
func BenchmarkBackend(b *testing.B) {
	queuetest.Bench(b, func(b *testing.B) queue.Core {
		cache := pebble.NewCache(256 << 20)
		defer cache.Unref()
		db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quiet{}, MemTableSize: 64 << 20, Cache: cache})
		if err != nil {
			b.Fatal(err)
		}
		q, err := queue.Open(db, queue.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			q.Close()
			db.Close()
		})
		return q
	})
}
