// store.go: the one Pebble database of a node, opened here and handed to queue and mailbox.
package main

import (
	"fmt"
	"log/slog"
	"os"
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

// openDB opens (creating it if needed) the node's Pebble database in dataDir/db. Pebble's own
// lock file makes a second process on the same directory fail here instead of corrupting it.
func openDB(dataDir string, log *slog.Logger) (*pebble.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	dir := filepath.Join(dataDir, "db")
	cache := pebble.NewCache(cacheBytes)
	defer cache.Unref() // the DB holds its own reference
	opts := &pebble.Options{
		Logger:       pebbleLogger{log.With("component", "pebble")},
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
// compactions); errors stay errors.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf("pebble: "+format, args...))
}
