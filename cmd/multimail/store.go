// store.go: the one Pebble database of a node, opened here and handed to queue and mailbox.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
)

// openDB opens (creating it if needed) the node's Pebble database in dataDir/db. Pebble's own
// lock file makes a second process on the same directory fail here instead of corrupting it.
func openDB(dataDir string, log *slog.Logger) (*pebble.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	dir := filepath.Join(dataDir, "db")
	db, err := pebble.Open(dir, &pebble.Options{
		Logger: pebbleLogger{log.With("component", "pebble")},
		// The WAL is the durability point of every acknowledgement: keep pebble's default
		// group commit and sync on each committed batch that asks for it (pebble.Sync).
	})
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
