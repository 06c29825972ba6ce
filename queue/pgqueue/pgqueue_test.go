package pgqueue_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"multimail.dev/multimail/internal/pgtest"
	"multimail.dev/multimail/pgdb"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/queue/pgqueue"
	"multimail.dev/multimail/queue/pgqueue/pgqueuetest"
	"multimail.dev/multimail/queue/queuetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testPoll is the poll interval of the tests' queues: short, so that waits for other nodes'
// work and for due times stay short.
const testPoll = 20 * time.Millisecond

// newPool opens a pool on a fresh, migrated schema.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgdb.Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, _, err := pgdb.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func open(t testing.TB, pool *pgxpool.Pool, o queue.Options) *pgqueue.Queue {
	t.Helper()
	q, err := pgqueue.Open(context.Background(), pool, pgqueue.Options{Queue: o, PollInterval: testPoll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T, o queue.Options) queue.Core { return open(t, newPool(t), o) })
	queuetest.RunSuppressions(t, func(t *testing.T, o queue.Options) queuetest.SuppressionQueue {
		return open(t, newPool(t), o)
	})
	queuetest.RunOversight(t, func(t *testing.T, o queue.Options) queuetest.OversightQueue { return open(t, newPool(t), o) })
}

// TestShared runs the several-nodes tests: n queues on one database, each with a pool of
// its own as separate processes would have.
func TestShared(t *testing.T) {
	t.Parallel()
	queuetest.RunShared(t, func(t *testing.T, o queue.Options, n int) []queue.Core {
		dsn := pgtest.DSN(t)
		var qs []queue.Core
		for range n {
			qs = append(qs, pgqueuetest.Open(t, dsn, pgqueue.Options{Queue: o, PollInterval: testPoll}).Queue)
		}
		return qs
	})
}

// TestSharedOversight: nodes on one database racing to decide the same approvals.
func TestSharedOversight(t *testing.T) {
	t.Parallel()
	queuetest.RunOversightShared(t, func(t *testing.T, o queue.Options, n int) []queuetest.OversightQueue {
		dsn := pgtest.DSN(t)
		var qs []queuetest.OversightQueue
		for range n {
			qs = append(qs, pgqueuetest.Open(t, dsn, pgqueue.Options{Queue: o, PollInterval: testPoll}).Queue)
		}
		return qs
	})
}

// BenchmarkBackend measures the PostgreSQL queue through queue.Core (queuetest.Bench), one
// node, on the test cluster (fsync and synchronous_commit on).
func BenchmarkBackend(b *testing.B) {
	queuetest.Bench(b, func(b *testing.B) queue.Core {
		q, err := pgqueue.Open(context.Background(), newPool(b), pgqueue.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { q.Close() })
		return q
	})
}
