// Package pgqueuetest opens queue/pgqueue nodes for other packages' tests (the MTA's, the
// e2e harness's): each node with its own pool on one database, as separate processes would
// have, and a way to kill one without a word.
package pgqueuetest

import (
	"context"
	"testing"

	"multimail.dev/multimail/pgdb"
	"multimail.dev/multimail/queue/pgqueue"
)

// Node is one queue/pgqueue node of a test.
type Node struct {
	*pgqueue.Queue
	kill func()
}

// Open opens a node on the database of dsn (migrating it first), closed at t's cleanup.
func Open(t testing.TB, dsn string, o pgqueue.Options) *Node {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, _, err := pgdb.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	q, err := pgqueue.Open(ctx, pool, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return &Node{Queue: q, kill: func() { pool.Close(); q.Close() }}
}

// Kill makes the node die as a killed process does: its pool is closed under it, so nothing
// it tries afterwards (Complete, Postpone, renewing its leases) reaches the database, and
// the leases it holds return to the pool only when they expire.
func (n *Node) Kill() { n.kill() }
