package pgstore

// watch.go: watchers on this node learn of other nodes' changes by polling mm_mailbox.version.

import (
	"context"
	"sync"
	"time"

	"multimail.dev/multimail/mailbox"
)

// PollInterval is how often a node looks for other nodes' changes to the mailboxes it has
// watchers of: IMAP IDLE on one node sees mail stored through another within about this long.
const PollInterval = 250 * time.Millisecond

// versions tracks, per watched mailbox, the mm_mailbox.version this node's watchers are up
// to date with. A local commit that moves the version from known to known+1 advances it (its
// changes were published); any other step means another node committed in between, and the
// poller tells the watchers to resynchronise.
type versions struct {
	mu       sync.Mutex
	known    map[string]int64 // watched mailboxes only
	inflight map[string]int   // local content transactions under way (the poller waits for them)
}

func (v *versions) begin(addr string) {
	v.mu.Lock()
	v.inflight[addr]++
	v.mu.Unlock()
}

// end records a local transaction's outcome: committed at version (0: not committed).
func (v *versions) end(addr string, version int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inflight[addr]--; v.inflight[addr] <= 0 {
		delete(v.inflight, addr)
	}
	if k, ok := v.known[addr]; ok && version != 0 && version == k+1 {
		v.known[addr] = version
	}
}

// Watch implements mailbox.Store: this node's changes as they commit, and a closed channel
// (resynchronise, then Watch again) when the poller sees another node's.
func (s *Store) Watch(ctx context.Context, mb string) <-chan mailbox.Change {
	if addr, err := mailbox.NormalizeAddress(mb); err == nil {
		var version int64
		err := s.row(ctx, "SELECT version FROM mm_mailbox WHERE address = $1", addr).Scan(&version)
		s.watch.mu.Lock()
		if _, ok := s.watch.known[addr]; !ok && err == nil {
			s.watch.known[addr] = version
		}
		s.watch.mu.Unlock()
	}
	return s.kit.Watch(ctx, mb)
}

// poll compares the versions of the watched mailboxes with what their watchers know, every
// PollInterval until ctx ends.
func (s *Store) poll(ctx context.Context) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.pollOnce(ctx)
	}
}

func (s *Store) pollOnce(ctx context.Context) {
	addrs := s.kit.Watching()
	s.watch.mu.Lock()
	for a := range s.watch.known { // forget mailboxes nobody watches any more
		if !contains(addrs, a) {
			delete(s.watch.known, a)
		}
	}
	s.watch.mu.Unlock()
	if len(addrs) == 0 {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := s.pool.Query(qctx, "SELECT address, version FROM mm_mailbox WHERE address = ANY($1)", addrs)
	if err != nil {
		if ctx.Err() == nil {
			s.kit.Options().Logger.Warn("pgstore: polling for other nodes' changes", "err", err)
		}
		return
	}
	current := map[string]int64{}
	var (
		a string
		v int64
	)
	for rows.Next() {
		if rows.Scan(&a, &v) == nil {
			current[a] = v
		}
	}
	if rows.Err() != nil {
		return
	}
	var stale []string
	s.watch.mu.Lock()
	for _, a := range addrs {
		if s.watch.inflight[a] > 0 {
			continue // a local commit is being noted: look again next time
		}
		k, known := s.watch.known[a]
		v, exists := current[a]
		if !known || !exists || v != k {
			stale = append(stale, a)
			if exists {
				s.watch.known[a] = v
			} else {
				delete(s.watch.known, a)
			}
		}
	}
	s.watch.mu.Unlock()
	for _, a := range stale {
		s.kit.Resync(a)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
