//go:build unix

// rlimit_unix.go: the open-file limit. Every connection is a file descriptor: at the usual
// soft limit of 1024, about a thousand idle connections would starve every listener and
// Pebble. The soft limit is raised to the hard one at start (Go's runtime does as much on
// some systems since 1.19; doing it here makes it certain, and logs it).
package main

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns the soft limit
// in force (0 if unknown).
func raiseFileLimit(log *slog.Logger) uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		log.Warn("reading the open-file limit", "err", err)
		return 0
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			log.Warn("raising the open-file limit", "soft", r.Cur, "hard", r.Max, "err", err)
			return uint64(r.Cur)
		}
		r = want
	}
	log.Debug("open-file limit", "soft", r.Cur, "hard", r.Max)
	return uint64(r.Cur)
}
