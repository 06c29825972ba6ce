// store.go: the one Pebble database of a node, opened here and handed to queue and mailbox.
package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// Pebble sizing for one node: a block cache that holds the hot index and filter blocks and the
// recent bodies the deliverers read back, and memtables large enough that a burst of 5 KB
// messages does not stall on flushes.
const (
	cacheBytes    = 128 << 20
	memTableBytes = 64 << 20
)

// exitStoreFault is the exit status of a node whose store failed (sysexits' EX_IOERR): a
// supervisor restarts it, and Pebble's WAL replay brings back everything that was acknowledged.
const exitStoreFault = 74

// openDB opens (creating it if needed) the node's Pebble database in dataDir/db; the caller
// has prepared and locked dataDir (datadir.go). exit is called by Pebble's Fatalf.
func openDB(dataDir string, log *slog.Logger, exit func(int)) (*pebble.DB, error) {
	dir := filepath.Join(dataDir, "db")
	cache := pebble.NewCache(cacheBytes)
	defer cache.Unref() // the DB holds its own reference
	opts := &pebble.Options{
		Logger:       pebbleLogger{log: log.With("component", "pebble"), exit: exit},
		Cache:        cache,
		MemTableSize: memTableBytes,
		// The WAL is the durability point of every acknowledgement: keep pebble's default
		// group commit and sync on each committed batch that asks for it (pebble.Sync).
	}
	// Bloom filters: the stores look up many keys that do not exist (a fresh message id, an
	// idempotency key); without filters each such Get reads index blocks from disk.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return db, nil
}

// pebbleLogger routes Pebble's printf-style log to slog at debug level (Pebble is chatty about
// compactions); errors stay errors. Fatalf exits the process: Pebble calls it when a commit
// fails (a full disk, an I/O error), after which its commit pipeline is unusable; a panic
// there would be recovered by net/http or the protocol libraries and leave a wedged node that
// answers /healthz and hangs every write.
type pebbleLogger struct {
	log  *slog.Logger
	exit func(int) // os.Exit outside tests
}

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}

// Fatalf logs and exits with exitStoreFault. Nothing unacknowledged was promised: a 202 or a
// 250 is sent only after a synced commit returned, and this commit did not.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error("store failed: exiting; a restart replays the log and keeps every acknowledged message",
		"err", fmt.Sprintf(format, args...), "exit_status", exitStoreFault)
	l.exit(exitStoreFault)
}
