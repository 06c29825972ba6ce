package pgqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"multimail.dev/multimail/pgdb"
	"multimail.dev/multimail/queue"
)

// ErrUnsupported: the message needs a part of the queue this backend does not have yet
// (test messages).
var ErrUnsupported = errors.New("pgqueue: not supported on PostgreSQL yet")

// Defaults of Options that differ from the Pebble queue's.
const (
	// DefaultLeaseTTL outlasts the longest SMTP attempt (10 minutes for the end-of-DATA
	// reply, RFC 5321 §4.5.3.2.6): a live node never loses a lease to another node mid-attempt.
	DefaultLeaseTTL = 15 * time.Minute
	// DefaultPollInterval is how often a waiting Next (and the outbox kick) looks for work
	// that other nodes made due.
	DefaultPollInterval = time.Second
)

// Options configures a Queue.
type Options struct {
	// Queue has the queue's settings, with the Pebble queue's meaning and defaults except
	// LeaseTTL (default DefaultLeaseTTL). Clock and Registerer are not used: times come from
	// the database's clock. Queue.Audit is taken as Audit when Audit is nil.
	Queue queue.Options
	// Audit, when set, receives the audit record of every enqueue and approval decision,
	// appended after the transaction commits (see audit.go): the node's own journal.
	Audit Auditor
	// PollInterval bounds how long Next sleeps before looking again (default
	// DefaultPollInterval); a change made through this Queue wakes it at once.
	PollInterval time.Duration
	// Heartbeat, when set, renews every lease this node holds every Heartbeat (with the
	// fencing check), so that a live node keeps a lease however long its attempt takes and
	// Queue.LeaseTTL can be short: a dead node's units return after at most LeaseTTL. It
	// must be well under LeaseTTL (a third, say). 0: no renewal; a lease lasts LeaseTTL.
	Heartbeat time.Duration
}

// Queue is the delivery queue on PostgreSQL; several nodes may open one on the same database.
type Queue struct {
	*queue.Signer // VERP return paths and unsubscribe tokens, under the key in mq_secret

	pool    *pgxpool.Pool
	opts    queue.Options
	poll    time.Duration
	beat    time.Duration
	log     *slog.Logger
	aud     Auditor // nil: no audit journal
	subs    atomic.Pointer[[]queue.Subscriber]
	onFinal atomic.Pointer[queue.FinalFunc]
	picks   atomic.Uint64 // Next calls that could serve both normal and low

	mu   sync.Mutex
	wake chan struct{}       // closed (and replaced) when local work may have become available
	kick chan struct{}       // outbox: capacity 1
	held map[string]struct{} // ids of the leases this node holds (renewed by the heartbeat)

	stop context.CancelFunc
	wg   sync.WaitGroup
}

var (
	_ queue.Core        = (*Queue)(nil)
	_ queue.ReturnPaths = (*Queue)(nil)
)

// Open returns a Queue on pool, whose schema must be at this binary's version (pgdb.Check).
// It starts one goroutine (the outbox kick); Close stops it. The pool stays the caller's.
func Open(ctx context.Context, pool *pgxpool.Pool, o Options) (*Queue, error) {
	if err := pgdb.Check(ctx, pool); err != nil {
		return nil, err
	}
	if o.Queue.LeaseTTL == 0 {
		o.Queue.LeaseTTL = DefaultLeaseTTL
	}
	qo, err := o.Queue.WithDefaults()
	if err != nil {
		return nil, err
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Heartbeat < 0 || o.Heartbeat > 0 && o.Heartbeat >= qo.LeaseTTL {
		return nil, fmt.Errorf("%w: Heartbeat %v must be under LeaseTTL %v", queue.ErrInvalid, o.Heartbeat, qo.LeaseTTL)
	}
	q := &Queue{pool: pool, opts: qo, poll: o.PollInterval, beat: o.Heartbeat, log: qo.Logger,
		wake: make(chan struct{}), kick: make(chan struct{}, 1), held: map[string]struct{}{}}
	q.aud = o.Audit
	if q.aud == nil && qo.Audit != nil {
		q.aud = qo.Audit
	}
	if q.Signer, err = loadSigner(ctx, pool, qo); err != nil {
		return nil, err
	}
	subs := slices.Clone(qo.Subscribers)
	q.subs.Store(&subs)
	if qo.OnFinal != nil {
		q.onFinal.Store(&qo.OnFinal)
	}
	pctx, stop := context.WithCancel(context.Background())
	q.stop = stop
	q.wg.Add(1)
	go q.kicker(pctx)
	if q.beat > 0 {
		q.wg.Add(1)
		go q.heartbeat(pctx)
	}
	return q, nil
}

// Close stops the outbox kick and heartbeat goroutines. Leases this node holds stay in the
// database and return to the pool when they expire.
func (q *Queue) Close() error {
	q.stop()
	q.wg.Wait()
	return nil
}

// SetOnFinal sets the hook told about recipients finalised inside Next.
func (q *Queue) SetOnFinal(fn queue.FinalFunc) { q.onFinal.Store(&fn) }

// SetSubscribers replaces the webhook fan-out of events journalled from now on by this node.
func (q *Queue) SetSubscribers(subs []queue.Subscriber) error {
	for _, s := range subs {
		if s.ID == "" || len(s.ID) > 255 {
			return fmt.Errorf("%w: subscriber id %q", queue.ErrInvalid, s.ID)
		}
	}
	subs = slices.Clone(subs)
	q.subs.Store(&subs)
	return nil
}

// Poke wakes waiters of Next.
func (q *Queue) Poke() { q.notify() }

func (q *Queue) notify() {
	q.mu.Lock()
	close(q.wake)
	q.wake = make(chan struct{})
	q.mu.Unlock()
	q.kickOutbox()
}

func (q *Queue) waitCh() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wake
}

func (q *Queue) kickOutbox() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// kicker signals the outbox every poll interval: other nodes' events are seen that way.
func (q *Queue) kicker(ctx context.Context) {
	defer q.wg.Done()
	t := time.NewTicker(q.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			q.kickOutbox()
		}
	}
}

// tx runs fn in a transaction, retried on serialization failures and deadlocks.
func (q *Queue) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgdb.Tx(ctx, q.pool, fn)
}

// micros is d as an integer number of microseconds, for "$n * interval '1 microsecond'".
func micros(d time.Duration) int64 { return d.Microseconds() }

// newLeaseID makes the id of generation gen of a unit's lease: "lse_" + 16 random hex
// digits + "." + gen. The generation is what Complete and Postpone check.
func newLeaseID(gen int64) string {
	var b [8]byte
	rand.Read(b[:])
	return "lse_" + hex.EncodeToString(b[:]) + "." + strconv.FormatInt(gen, 10)
}

// leaseGen returns the generation of a lease id (false when malformed).
func leaseGen(id string) (int64, bool) {
	_, g, ok := strings.Cut(id, ".")
	if !ok || !strings.HasPrefix(id, "lse_") {
		return 0, false
	}
	n, err := strconv.ParseInt(g, 10, 64)
	return n, err == nil && n > 0
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// hold and release track the leases this node holds, for the heartbeat.
func (q *Queue) hold(id string) {
	q.mu.Lock()
	q.held[id] = struct{}{}
	q.mu.Unlock()
}

func (q *Queue) release(id string) {
	q.mu.Lock()
	delete(q.held, id)
	q.mu.Unlock()
}

// heartbeat renews the held leases every q.beat until ctx ends.
func (q *Queue) heartbeat(ctx context.Context) {
	defer q.wg.Done()
	t := time.NewTicker(q.beat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := q.renew(ctx); err != nil && ctx.Err() == nil {
				q.log.Error("queue: renewing leases", "err", err)
			}
		}
	}
}

// renew extends every held lease that is still this node's (same lease id, which carries
// the generation, and not expired) to now() + LeaseTTL, and forgets the others: a lease
// that expired before its renewal is lost, and Complete will say so.
func (q *Queue) renew(ctx context.Context) error {
	q.mu.Lock()
	ids := make([]string, 0, len(q.held))
	for id := range q.held {
		ids = append(ids, id)
	}
	q.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	var kept []string
	err := pgdb.Retry(ctx, func() error {
		rows, err := q.pool.Query(ctx, `UPDATE mq_unit SET lease_expires = now() + $2 * interval '1 microsecond'
			WHERE lease_id = ANY($1) AND lease_expires > now() RETURNING lease_id`, ids, micros(q.opts.LeaseTTL))
		if err != nil {
			return err
		}
		kept, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, id := range ids {
		if !slices.Contains(kept, id) {
			delete(q.held, id)
		}
	}
	return nil
}

// verpSecret is the JSON of mq_secret 'verp'.
type verpSecret struct {
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

// loadSigner reads the shared VERP key, making it first if no node has: of nodes racing to
// make it, the first insert wins (ON CONFLICT DO NOTHING) and every node reads that one.
func loadSigner(ctx context.Context, pool *pgxpool.Pool, o queue.Options) (*queue.Signer, error) {
	fresh := verpSecret{Key: make([]byte, 32), Created: time.Now().UTC()}
	rand.Read(fresh.Key)
	var data []byte
	err := pgdb.Tx(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO mq_secret (name, data) VALUES ('verp', $1) ON CONFLICT (name) DO NOTHING`,
			mustJSON(fresh))
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT data FROM mq_secret WHERE name = 'verp'`).Scan(&data)
	})
	if err != nil {
		return nil, fmt.Errorf("pgqueue: VERP key: %w", err)
	}
	var k verpSecret
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("pgqueue: VERP key: %w: %v", queue.ErrCorrupt, err)
	}
	return queue.NewSigner(k.Key, k.Created, o.MaxLifetime, nil)
}
