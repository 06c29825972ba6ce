// datadir.go: the data directory's ownership, permissions and lock. Mail bodies, API key
// hashes, DKIM keys and the admin socket live there, so it is the owner's alone: created or
// repaired as 0700 with files 0600, refused if another user owns it or group/others may write
// to it, and locked so a second `serve` on it says who holds it.
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
	"syscall"
)

// pidFile is the lock file inside data_dir; it holds the pid of the serving process.
const pidFile = "multimail.pid"

// privateUmask makes every file the server creates 0600 and every directory 0700, whatever
// umask it was started under (Pebble creates its files 0644 and its dirs 0755).
const privateUmask = 0o077

// prepareDataDir creates dir as 0700, or checks an existing one: refused when another user
// owns it or group/others may write to it (they could swap files under us); otherwise group
// and other bits are taken off it and everything in it (an older install, a dir made by hand).
func prepareDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if err := checkOwner(dir, fi); err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("data dir %s has mode %04o: group or others may write to it; refusing to start (run `chmod 700 %s`)",
			dir, fi.Mode().Perm(), dir)
	}
	n, err := repairModes(dir)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Warn("data dir had entries readable by group or others: made them private", "data_dir", dir, "entries", n)
	}
	return nil
}

// checkOwner refuses a directory owned by another user than the one running the server.
func checkOwner(dir string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("data dir %s is owned by uid %d, not by the user running multimail (uid %d); refusing to start",
			dir, st.Uid, uid)
	}
	return nil
}

// repairModes takes group and other bits off dir and everything in it (a few dozen files:
// Pebble's tables, the certificate, the keys), and counts what it changed.
func repairModes(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 || d.Type()&fs.ModeSocket != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return fmt.Errorf("data dir: make %s private: %w", p, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// dirLock is the held lock on data_dir.
type dirLock struct{ f *os.File }

// lockDataDir takes an exclusive flock on data_dir/multimail.pid and writes our pid into it.
// A second server on the same directory is told who holds it.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, pidFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another multimail is running on %s%s", dir, holder(f))
		}
		return nil, fmt.Errorf("data dir lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	return &dirLock{f: f}, nil
}

// holder names the pid written by the lock's holder, if it wrote one yet.
func holder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}

// release empties the pid file and drops the lock. The file stays: removing it would let a
// third process lock a new inode while a second still holds the old one. The lock is dropped
// with LOCK_UN before the close: a child being forked at that moment (by this process, e.g.
// a test starting a server) holds a copy of the descriptor until its exec, and a close alone
// would leave the lock held by that copy.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		_ = l.f.Truncate(0)
		_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
	}
}
