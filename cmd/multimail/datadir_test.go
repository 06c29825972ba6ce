package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPrepareDataDir(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name     string
		mode     os.FileMode // of an existing dir; 0: not created beforehand
		fileMode os.FileMode // of a file already in it
		wantErr  string
		wantMode os.FileMode
	}{
		{"created", 0, 0, "", 0o700},
		{"private already", 0o700, 0o600, "", 0o700},
		{"readable by others is repaired", 0o755, 0o644, "", 0o700},
		{"group-writable is refused", 0o770, 0o600, "mode 0770", 0},
		{"world-writable is refused", 0o777, 0o600, "group or others may write", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			file := filepath.Join(dir, "db", "000001.sst")
			if tc.mode != 0 {
				must(t, os.MkdirAll(filepath.Dir(file), 0o755))
				must(t, os.WriteFile(file, []byte("mail"), tc.fileMode))
				must(t, os.Chmod(file, tc.fileMode))
				must(t, os.Chmod(dir, tc.mode))
			}
			err := prepareDataDir(dir, log)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("err = %v, want one naming %s and %q", err, dir, tc.wantErr)
				}
				return
			}
			must(t, err)
			fi, err := os.Stat(dir)
			must(t, err)
			if fi.Mode().Perm() != tc.wantMode {
				t.Fatalf("dir mode %04o, want %04o", fi.Mode().Perm(), tc.wantMode)
			}
			if tc.mode == 0 {
				return
			}
			for _, p := range []string{file, filepath.Dir(file)} {
				fi, err := os.Stat(p)
				must(t, err)
				if fi.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s left at %04o", p, fi.Mode().Perm())
				}
			}
		})
	}
}

func TestPrepareDataDirRefusesAnotherOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := filepath.Join(t.TempDir(), "data")
	must(t, os.Mkdir(dir, 0o700))
	must(t, os.Chown(dir, 65534, 65534))
	err := prepareDataDir(dir, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v", err)
	}
}

func TestLockDataDirNamesTheHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := lockDataDir(dir)
	must(t, err)
	_, err = lockDataDir(dir)
	want := "another multimail is running on " + dir + " (pid " + strconv.Itoa(os.Getpid()) + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("second lock: %v, want %q", err, want)
	}
	l.release()
	l2, err := lockDataDir(dir)
	must(t, err)
	l2.release()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
