package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreFormat: a new data directory gets the current format; one written before the
// format file existed (format 0: a database, no file) is upgraded; the current format is left
// alone; a newer one is refused with a message naming both formats; garbage is refused.
func TestStoreFormat(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	read := func(dir string) string {
		b, err := os.ReadFile(filepath.Join(dir, storeFormatFile))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	fresh := t.TempDir()
	if err := checkStoreFormat(fresh, log); err != nil || read(fresh) != "1" {
		t.Fatalf("new dir: %v", err)
	}
	old := t.TempDir()
	if err := os.Mkdir(filepath.Join(old, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := checkStoreFormat(old, log); err != nil || read(old) != "1" {
		t.Fatalf("format 0 dir: %v", err)
	}
	if err := checkStoreFormat(old, log); err != nil || read(old) != "1" {
		t.Fatalf("current dir: %v", err)
	}
	newer := t.TempDir()
	if err := os.WriteFile(filepath.Join(newer, storeFormatFile), []byte("2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := checkStoreFormat(newer, log)
	if err == nil || !strings.Contains(err.Error(), "store format 2, written by a newer multimail") || !strings.Contains(err.Error(), "up to 1") {
		t.Fatalf("newer format: %v", err)
	}
	if read(newer) != "2" {
		t.Errorf("a refused newer format was rewritten")
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, storeFormatFile), []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkStoreFormat(bad, log); err == nil {
		t.Fatalf("garbage format accepted")
	}
}
