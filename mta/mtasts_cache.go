package mta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"multimail.dev/multimail/queue"
)

// ErrSTSPending: the first fetch of the recipient domain's MTA-STS policy is still running
// after STSOptions.Wait; the recipients are deferred and the next attempt uses the policy.
var ErrSTSPending = errors.New("mta: MTA-STS policy fetch in progress")

// ErrSTSPolicy: an enforce MTA-STS policy could not be met (no MX matches the policy, or TLS
// with a valid certificate was not possible).
var ErrSTSPolicy = errors.New("mta: MTA-STS policy not met")

// txtResolver is the TXT lookup MTA-STS and TLS-RPT need; *dnsclient.Client and *net.Resolver
// have it.
type txtResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// stsEntry is one cached policy, as kept in STSOptions.CacheFile.
type stsEntry struct {
	ID      string    `json:"id"`
	Policy  STSPolicy `json:"policy"`
	Fetched time.Time `json:"fetched"`
	Expires time.Time `json:"expires"` // Fetched + max_age
}

// stsState is the in-memory fetch state of one domain.
type stsState struct {
	running chan struct{} // closed when the running fetch ends; nil when none runs
	lastTry time.Time
	lastErr error // the last fetch's failure; nil after a success
}

// stsLookup is what a delivery learns about its recipient domain.
type stsLookup struct {
	domain   string
	id       string     // the TXT id, or the cached policy's
	policy   *STSPolicy // nil: no policy applies
	fetchErr error      // a TXT record exists but the policy could not be fetched (RFC 8461 §5.1: no policy)
}

// stsManager answers "which policy applies to this domain" without blocking a delivery worker
// for longer than STSOptions.Wait: fetches run in their own goroutines, at most MaxFetches at
// once and once per Refetch per domain; policies are cached for max_age, on disk.
type stsManager struct {
	opts    STSOptions
	fetcher *stsFetcher
	txt     txtResolver
	clock   queue.Clock
	log     *slog.Logger
	sem     chan struct{}

	mu    sync.Mutex
	cache map[string]stsEntry
	state map[string]*stsState

	saveMu  sync.Mutex
	fetches sync.WaitGroup // running fetches; Deliverer.Run waits so the last save ends before it returns
}

func newSTSManager(o STSOptions, r Resolver, clock queue.Clock, log *slog.Logger) (*stsManager, error) {
	o = o.withDefaults()
	txt, ok := r.(txtResolver)
	if !ok {
		return nil, fmt.Errorf("mta: MTA-STS needs a resolver with LookupTXT (got %T)", r)
	}
	m := &stsManager{opts: o, fetcher: newSTSFetcher(o, r), txt: txt, clock: clock, log: log,
		sem: make(chan struct{}, o.MaxFetches), cache: map[string]stsEntry{}, state: map[string]*stsState{}}
	if err := m.load(); err != nil {
		return nil, err
	}
	return m, nil
}

// load reads the cache file; a missing file is an empty cache, a corrupt one an error.
func (m *stsManager) load() error {
	if m.opts.CacheFile == "" {
		return nil
	}
	b, err := os.ReadFile(m.opts.CacheFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mta: MTA-STS cache: %w", err)
	}
	if err := json.Unmarshal(b, &m.cache); err != nil {
		return fmt.Errorf("mta: MTA-STS cache %s: %w", m.opts.CacheFile, err)
	}
	return nil
}

// save writes the unexpired entries to the cache file: a temporary file, fsync, rename.
func (m *stsManager) save() error {
	if m.opts.CacheFile == "" {
		return nil
	}
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	now := m.clock.Now()
	m.mu.Lock()
	keep := make(map[string]stsEntry, len(m.cache))
	for d, e := range m.cache {
		if now.Before(e.Expires) {
			keep[d] = e
		}
	}
	b, err := json.MarshalIndent(keep, "", " ")
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return writeFileAtomic(m.opts.CacheFile, b)
}

// writeFileAtomic replaces path with b (mode 0600), durably.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		_ = dir.Sync()
		_ = dir.Close()
	}
	return nil
}

// lookup decides the policy for domain (RFC 8461 §5):
//
//   - the TXT record of _mta-sts.<domain> names the current id; a cached, unexpired policy
//     with that id applies at once;
//   - no usable TXT record, or a failing lookup: the cached policy applies until it expires
//     (a stripped record does not downgrade), else no policy;
//   - a new id with a cached policy: the cached one applies while the new one is fetched;
//   - nothing cached: a fetch starts (or is running) and the caller waits up to Wait; a
//     policy fetched in time applies, a failed fetch means no policy (RFC 8461 §5.1), and a
//     fetch still running defers with ErrSTSPending.
func (m *stsManager) lookup(ctx context.Context, domain string) (stsLookup, *Error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	lk := stsLookup{domain: domain}
	tctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	txts, terr := m.txt.LookupTXT(tctx, "_mta-sts."+domain)
	cancel()
	id, has := ParseSTSRecord(txts)
	now := m.clock.Now()
	m.mu.Lock()
	e, cached := m.cache[domain]
	cached = cached && now.Before(e.Expires)
	m.mu.Unlock()
	switch {
	case cached && (!has || terr != nil || e.ID == id):
		return m.use(lk, e), nil
	case !has:
		return lk, nil
	}
	lk.id = id
	done := m.startFetch(domain, id)
	if cached {
		return m.use(lk, e), nil // the new id is being fetched; the old policy holds meanwhile
	}
	if done != nil {
		t := time.NewTimer(m.opts.Wait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	m.mu.Lock()
	e, cached = m.cache[domain]
	st := m.state[domain]
	m.mu.Unlock()
	switch {
	case cached && e.ID == id:
		return m.use(lk, e), nil
	case st != nil && st.running != nil:
		e := temporary("4.7.0", ErrSTSPending, "MTA-STS policy of %s (id %s) is being fetched; will retry", domain, id)
		return lk, e
	case st != nil && st.lastErr != nil:
		lk.fetchErr = st.lastErr
	}
	return lk, nil
}

func (m *stsManager) use(lk stsLookup, e stsEntry) stsLookup {
	p := e.Policy
	lk.id, lk.policy = e.ID, &p
	if p.Mode == STSNone {
		lk.policy = nil
	}
	return lk
}

// refetchAfterSuccess is the least time between two fetches for a domain whose last fetch
// succeeded (its id changed again, or a short max_age ran out).
const refetchAfterSuccess = time.Minute

// startFetch starts a fetch of domain's policy unless one runs, or one failed less than
// Refetch ago, or one succeeded less than a minute ago; it returns the channel closed when the
// running fetch ends, or nil.
func (m *stsManager) startFetch(domain, id string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state[domain]
	if st == nil {
		st = &stsState{}
		m.state[domain] = st
	}
	if st.running != nil {
		return st.running
	}
	now := m.clock.Now()
	gap := m.opts.Refetch
	if st.lastErr == nil {
		gap = min(gap, refetchAfterSuccess)
	}
	if !st.lastTry.IsZero() && now.Sub(st.lastTry) < gap {
		return nil
	}
	st.lastTry = now
	done := make(chan struct{})
	st.running = done
	m.fetches.Go(func() { m.fetch(domain, id, st, done) })
	return done
}

func (m *stsManager) fetch(domain, id string, st *stsState, done chan struct{}) {
	m.sem <- struct{}{}
	p, err := m.fetcher.fetch(context.Background(), domain)
	<-m.sem
	m.mu.Lock()
	st.lastErr = err
	if err == nil {
		now := m.clock.Now()
		m.cache[domain] = stsEntry{ID: id, Policy: *p, Fetched: now,
			Expires: now.Add(time.Duration(p.MaxAge) * time.Second)}
		m.pruneLocked(now)
	}
	st.running = nil
	close(done)
	m.mu.Unlock()
	if err != nil {
		m.log.Warn("MTA-STS policy fetch failed", "domain", domain, "id", id, "err", err)
		return
	}
	m.log.Info("MTA-STS policy fetched", "domain", domain, "id", id, "mode", p.Mode, "max_age", p.MaxAge)
	if err := m.save(); err != nil {
		m.log.Error("MTA-STS cache not saved", "err", err)
	}
}

// pruneLocked bounds the in-memory state: expired cache entries go, and fetch states older
// than Refetch that are not running.
func (m *stsManager) pruneLocked(now time.Time) {
	const maxDomains = 100000
	if len(m.cache)+len(m.state) < maxDomains {
		return
	}
	for d, e := range m.cache {
		if !now.Before(e.Expires) {
			delete(m.cache, d)
		}
	}
	for d, st := range m.state {
		if st.running == nil && now.Sub(st.lastTry) >= m.opts.Refetch {
			delete(m.state, d)
		}
	}
}
