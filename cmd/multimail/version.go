// version.go: the store format of a data directory, in data_dir/store-format.
//
// The file holds one decimal number, the format of everything under the data directory (the
// Pebble key schemas of queue, mailbox and audit, and the files beside them). A binary reads
// the formats up to storeFormat. At start:
//
//   - no file: a data directory from before this file existed (format 0) when it has a
//     database, else a new one: either way it is brought to storeFormat;
//   - an older format: the upgrades below run in order, then the file is rewritten;
//   - storeFormat: nothing to do;
//   - a newer format: the node refuses to start, saying which binary wrote it.
//
// History: 0, no file (every release before it); 1, the file exists, with the same key
// schemas as 0 (upgrading 0 to 1 writes the file).
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	storeFormat     = 1
	storeFormatFile = "store-format"
)

// upgrades[i] brings a data directory from format i to i+1.
var upgrades = []func(dir string, log *slog.Logger) error{
	0: func(string, *slog.Logger) error { return nil }, // 0 -> 1: only the file is new
}

// checkStoreFormat reads, upgrades and records the data directory's store format; the caller
// holds the data directory's lock and has not opened the database yet.
func checkStoreFormat(dir string, log *slog.Logger) error {
	p := filepath.Join(dir, storeFormatFile)
	raw, err := os.ReadFile(p)
	have := 0
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Join(dir, "db")); errors.Is(err, fs.ErrNotExist) {
			return writeStoreFormat(dir, storeFormat) // a new data directory
		}
	case err != nil:
		return fmt.Errorf("store format: %w", err)
	default:
		have, err = strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil || have < 0 {
			return fmt.Errorf("store format: %s holds %q, not a format number", p, raw)
		}
	}
	if have > storeFormat {
		return fmt.Errorf("the data directory %s has store format %d, written by a newer multimail; this one (%s) reads formats up to %d: "+
			"run the newer multimail, or restore a backup taken before the upgrade", dir, have, buildVersion(), storeFormat)
	}
	if have == storeFormat {
		return nil
	}
	for f := have; f < storeFormat; f++ {
		if err := upgrades[f](dir, log); err != nil {
			return fmt.Errorf("upgrade the data directory %s from store format %d to %d: %w", dir, f, f+1, err)
		}
		if err := writeStoreFormat(dir, f+1); err != nil {
			return err
		}
		log.Info("data directory upgraded", "dir", dir, "from_format", f, "to_format", f+1)
	}
	return nil
}

// writeStoreFormat replaces the format file: a new file, synced, renamed over the old one, and
// the directory synced.
func writeStoreFormat(dir string, f int) error {
	tmp := filepath.Join(dir, storeFormatFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(f)+"\n"), 0o600); err != nil {
		return fmt.Errorf("store format: %w", err)
	}
	if fh, err := os.Open(tmp); err == nil {
		_ = fh.Sync()
		fh.Close()
	}
	if err := os.Rename(tmp, filepath.Join(dir, storeFormatFile)); err != nil {
		return fmt.Errorf("store format: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
