package queue

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

const (
	msgStripes  = 256 // per-message lock stripes
	idemStripes = 64  // per-idempotency-key lock stripes
)

// Queue is the durable outbound queue. It is safe for concurrent use.
type Queue struct {
	db    *pebble.DB
	opts  Options
	clock Clock
	log   *slog.Logger
	sign  Signer // set by Open, then read-only

	msgLocks  [msgStripes]sync.Mutex  // serialise read-modify-write of one message
	idemLocks [idemStripes]sync.Mutex // serialise check-and-set of one idempotency key

	mu      sync.Mutex // guards the fields below
	s       *sched
	leases  map[ulid]*leaseState
	lexp    leaseHeap
	wake    chan struct{} // closed and replaced on every change (a broadcast to Next)
	closed  bool
	resched chan struct{} // tells run that the next wake time may have changed
	done    chan struct{}
	wg      sync.WaitGroup

	onFinal atomic.Pointer[FinalFunc]    // nil: nobody listens
	subs    atomic.Pointer[[]Subscriber] // the webhook fan-out in force (SetSubscribers)
	seqs    seqCache

	ids     idGen
	ob      outbox
	metrics *metrics
}

// Open loads the schedule from db and returns every persisted lease to ready (the process
// that held them is gone). The caller owns db and closes it after Close.
func Open(db *pebble.DB, opts Options) (*Queue, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	q := &Queue{
		db: db, opts: opts, clock: opts.Clock, log: opts.Logger,
		s: newSched(opts.PerDomainConcurrency), leases: map[ulid]*leaseState{},
		wake: make(chan struct{}), resched: make(chan struct{}, 1), done: make(chan struct{}),
	}
	q.ob.init()
	q.seqs.init()
	q.SetOnFinal(opts.OnFinal)
	subs := slices.Clone(opts.Subscribers)
	q.subs.Store(&subs)
	if err := q.load(); err != nil {
		return nil, err
	}
	if err := q.registerMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	q.wg.Add(1)
	go q.run()
	return q, nil
}

// load rebuilds every in-memory index from Pebble.
func (q *Queue) load() error {
	steps := []struct {
		name string
		fn   func() error
	}{
		{"VERP key", q.loadVERPKey},
		{"leases", q.restoreLeases},
		{"domains", q.loadDomains},
		{"schedule", q.loadSched},
		{"outbox", q.loadOutbox},
		{"idempotency", q.gcIdempotency},
		{"test outbox", q.gcTestOutbox},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return fmt.Errorf("queue: open: load %s: %w", s.name, err)
		}
	}
	return nil
}

// Close stops the internal goroutines and makes waiting Next calls return ErrClosed.
// It never closes the database.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	q.mu.Unlock()
	q.wg.Wait()
	q.unregisterMetrics()
	return nil
}

// SetOnFinal replaces Options.OnFinal (nil removes it). It exists because the listener,
// usually the MTA's Deliverer, is built after the queue it serves (mta.New calls it).
func (q *Queue) SetOnFinal(fn FinalFunc) {
	if fn == nil {
		q.onFinal.Store(nil)
		return
	}
	q.onFinal.Store(&fn)
}

func (q *Queue) now() time.Time { return q.clock.Now() }

func (q *Queue) msgLock(id ulid) *sync.Mutex {
	return &q.msgLocks[(uint(id[14])<<8|uint(id[15]))%msgStripes]
}

func (q *Queue) idemLock(mailbox, key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(mailbox))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return &q.idemLocks[h.Sum32()%idemStripes]
}

// notifyLocked wakes every waiting Next and the timer loop. Needs q.mu.
func (q *Queue) notifyLocked() {
	q.broadcastLocked()
	select {
	case q.resched <- struct{}{}:
	default:
	}
}

// broadcastLocked wakes every waiting Next. Needs q.mu.
func (q *Queue) broadcastLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// Poke makes the queue re-read its clock: it wakes waiting Next calls and re-arms the timer.
// Only needed with a fake Clock that jumps.
func (q *Queue) Poke() {
	q.mu.Lock()
	q.notifyLocked()
	q.mu.Unlock()
}

// run is the one timer of the queue: it fires at the earliest due unit, backoff end or lease
// expiry, returns expired leases to ready and wakes waiters. It never polls.
func (q *Queue) run() {
	defer q.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	fired := false
	for {
		wait := q.tick(fired)
		t.Reset(wait)
		fired = false
		select {
		case <-t.C:
			fired = true
		case <-q.resched:
		case <-q.done:
			return
		}
	}
}

// tick handles everything due now and returns how long to sleep. When the timer fired,
// a unit may have fallen due, so waiters are woken.
func (q *Queue) tick(fired bool) time.Duration {
	now := q.now().UnixNano()
	q.mu.Lock()
	expired := q.popExpiredLocked(now)
	if q.s.expireBackoffs(now) || fired {
		q.broadcastLocked()
	}
	wake := q.s.nextWake(now)
	if len(q.lexp) > 0 && (wake == 0 || q.lexp[0].expires < wake) {
		wake = q.lexp[0].expires
	}
	q.mu.Unlock()
	for _, ls := range expired {
		q.returnLease(ls, "lease expired")
	}
	if len(expired) > 0 {
		return 0
	}
	if wake == 0 {
		return time.Hour
	}
	return max(time.Duration(wake-now), 0)
}
