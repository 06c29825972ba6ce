package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/queue"
)

// Endpoint is one configured webhook receiver ([[webhook]] in the config file).
type Endpoint struct {
	ID     string   // the queue.Subscriber ID its outbox entries carry (e.g. "wh0")
	URL    string   // http or https; loopback allowed (endpoints in the config are trusted)
	Secret string   // "whsec_<base64>"
	Events []string // event types to send; empty = all (the queue does the filtering)
}

// Subscribers returns the queue.Subscriber list for endpoints, to put in queue.Options so the
// queue fans events out to them.
func Subscribers(endpoints []Endpoint) []queue.Subscriber {
	subs := make([]queue.Subscriber, 0, len(endpoints))
	for _, ep := range endpoints {
		s := queue.Subscriber{ID: ep.ID}
		for _, e := range ep.Events {
			s.Events = append(s.Events, queue.EventType(e))
		}
		subs = append(subs, s)
	}
	return subs
}

// Clock tells the time; nil means the real clock.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// DefaultBackoff is the retry schedule: the wait after the 1st, 2nd, ... failed attempt; the
// last step repeats until the queue drops the entry (OutboxMaxAge, at least 24 h).
var defaultBackoff = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 5 * time.Minute, 15 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour,
}

// Options tunes a Dispatcher. Zero values take the documented defaults.
type Options struct {
	Client      *http.Client          // nil -> a client that does not follow redirects
	Timeout     time.Duration         // per attempt, default 10s
	Backoff     []time.Duration       // retry schedule; nil -> 5s, 30s, 2m, 5m, 15m, 30m, 1h, 2h, 4h...
	Concurrency int                   // attempts in flight at once, default 8
	BatchSize   int                   // outbox heads fetched per round, default 64
	UserAgent   string                // default "multimail-webhooks/1"
	Clock       Clock                 // nil -> real clock
	Logger      *slog.Logger          // nil -> discard
	Registerer  prometheus.Registerer // nil -> metrics not registered
}

// Dispatcher sends the queue's webhook outbox. Run it once; it is not restartable.
type Dispatcher struct {
	q         queue.Outbox
	endpoints atomic.Pointer[map[string]Endpoint] // SetEndpoints swaps it
	opts      Options
	clock     Clock
	log       *slog.Logger
	m         *metrics

	mu       sync.Mutex
	inflight map[string]bool // "subscriber/webhook-id" of the outbox items being attempted
	finished map[string]bool // items whose attempt ended since the current round began
	done     chan struct{}   // an attempt finished: look for the next chain head
}

// NewDispatcher checks the endpoints (unique IDs, http(s) URLs, decodable secrets) and
// registers the metrics.
func NewDispatcher(q queue.Outbox, endpoints []Endpoint, opts Options) (*Dispatcher, error) {
	if q == nil {
		return nil, errors.New("webhook: nil queue")
	}
	eps, err := indexEndpoints(endpoints)
	if err != nil {
		return nil, err
	}
	opts = withDefaults(opts)
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("webhook: metrics: %w", err)
	}
	d := &Dispatcher{
		q: q, opts: opts, clock: opts.Clock, log: opts.Logger, m: m,
		inflight: map[string]bool{}, finished: map[string]bool{}, done: make(chan struct{}, 1),
	}
	d.endpoints.Store(&eps)
	return d, nil
}

// ValidateEndpoints checks endpoints as NewDispatcher and SetEndpoints do.
func ValidateEndpoints(endpoints []Endpoint) error {
	_, err := indexEndpoints(endpoints)
	return err
}

// SetEndpoints replaces the endpoints (a config reload); the next attempt of every outbox
// entry uses the new URL and secret of its endpoint ID. An entry whose endpoint is gone is
// dropped when it comes due, as after a restart. Bad endpoints are refused; the old set stays.
func (d *Dispatcher) SetEndpoints(endpoints []Endpoint) error {
	eps, err := indexEndpoints(endpoints)
	if err != nil {
		return err
	}
	d.endpoints.Store(&eps)
	return nil
}

func indexEndpoints(endpoints []Endpoint) (map[string]Endpoint, error) {
	eps := make(map[string]Endpoint, len(endpoints))
	for i, ep := range endpoints {
		if ep.ID == "" || eps[ep.ID].ID != "" {
			return nil, fmt.Errorf("webhook: endpoint %d: empty or duplicate id %q", i, ep.ID)
		}
		if !strings.HasPrefix(ep.URL, "http://") && !strings.HasPrefix(ep.URL, "https://") {
			return nil, fmt.Errorf("webhook: endpoint %s: url %q is not http(s)", ep.ID, ep.URL)
		}
		if _, err := DecodeSecret(ep.Secret); err != nil {
			return nil, fmt.Errorf("webhook: endpoint %s: %w", ep.ID, err)
		}
		eps[ep.ID] = ep
	}
	return eps, nil
}

func withDefaults(o Options) Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if len(o.Backoff) == 0 {
		o.Backoff = defaultBackoff
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.UserAgent == "" {
		o.UserAgent = "multimail-webhooks/1"
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is a failed attempt, never followed
		}}
	}
	return o
}

// Backoff returns the wait after the given number of failed attempts (1 = first failure).
func (d *Dispatcher) backoff(failures int) time.Duration {
	i := min(max(failures, 1), len(d.opts.Backoff)) - 1
	return d.opts.Backoff[i]
}

// Run delivers outbox entries until ctx ends, then waits for attempts in flight and returns nil.
// It never polls: it waits for the queue's kick, the end of an attempt, or the next due time.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		started, err := d.round(ctx, &wg)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("webhook outbox read failed", "err", err)
		}
		d.wait(ctx, started, err != nil)
	}
	return nil
}

// round starts attempts for due chain heads, as many as there are free slots. OutboxDue
// leases what it returns (the queue will not hand those chains out again until acked,
// retried or the lease expires), so every item fetched is attempted now.
func (d *Dispatcher) round(ctx context.Context, wg *sync.WaitGroup) (int, error) {
	free := d.freeSlots()
	if free == 0 {
		return 0, nil
	}
	items, err := d.q.OutboxDue(ctx, min(free, d.opts.BatchSize))
	if err != nil {
		return 0, err
	}
	started := 0
	for _, it := range items {
		key := it.Subscriber + "/" + it.ID // every endpoint gets its own copy of an event
		if !d.claim(key) {
			continue
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.attempt(ctx, it)
			d.release(key)
		}()
	}
	return started, nil
}

func (d *Dispatcher) freeSlots() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.finished) // what ends from now on may still be in the next OutboxDue's answer
	return d.opts.Concurrency - len(d.inflight)
}

// claim marks an item (subscriber/id) in flight. It refuses an item already in flight, or one that finished
// since freeSlots: such an answer of OutboxDue is stale (acked or rescheduled meanwhile).
func (d *Dispatcher) claim(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight[id] || d.finished[id] {
		return false
	}
	d.inflight[id] = true
	return true
}

func (d *Dispatcher) release(id string) {
	d.mu.Lock()
	delete(d.inflight, id)
	d.finished[id] = true
	d.mu.Unlock()
	select {
	case d.done <- struct{}{}:
	default:
	}
}

// wait blocks until there may be new work: a kick from the queue, a finished attempt, or the
// earliest scheduled retry. After an error or a round that started nothing while entries
// were due (all in flight), it waits at least a short pause so it cannot spin.
func (d *Dispatcher) wait(ctx context.Context, started int, failed bool) {
	delay := time.Hour
	if next, ok := d.q.OutboxNextDue(ctx); ok {
		delay = next.Sub(d.clock.Now())
	}
	if started > 0 {
		return // more heads may be due right away (new chain heads after acks arrive via done)
	}
	if failed || delay < 0 {
		delay = max(delay, 250*time.Millisecond)
	}
	t := time.NewTimer(max(delay, time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-d.q.OutboxKick():
	case <-d.done:
	case <-t.C:
	}
}

// attempt makes one delivery attempt of it and records the outcome in the queue.
func (d *Dispatcher) attempt(ctx context.Context, it queue.OutboxItem) {
	ep, ok := (*d.endpoints.Load())[it.Subscriber]
	if !ok {
		d.m.dropped.WithLabelValues(it.Subscriber).Inc()
		d.log.Warn("webhook endpoint no longer configured; dropping event", "endpoint", it.Subscriber, "webhook_id", it.ID)
		d.ack(ctx, it)
		return
	}
	d.m.inflight.Inc()
	start := time.Now()
	err := d.post(ctx, ep, it)
	d.m.attempt.Observe(time.Since(start).Seconds())
	d.m.inflight.Dec()
	if ctx.Err() != nil {
		return // shutting down: the entry stays due and is sent again on the next start
	}
	if err == nil {
		d.m.deliveries.WithLabelValues(ep.ID).Inc()
		d.m.lag.Observe(d.clock.Now().Sub(it.Event.Time).Seconds())
		d.ack(ctx, it)
		return
	}
	d.m.failures.WithLabelValues(ep.ID).Inc()
	next := d.clock.Now().Add(d.backoff(it.Attempts + 1))
	d.log.Info("webhook attempt failed", "endpoint", ep.ID, "webhook_id", it.ID, "attempt", it.Attempts+1, "retry_at", next, "err", err)
	if err := d.q.OutboxRetry(ctx, it, next, err.Error()); err != nil {
		d.log.Warn("webhook outbox retry not recorded", "webhook_id", it.ID, "err", err)
	}
}

func (d *Dispatcher) ack(ctx context.Context, it queue.OutboxItem) {
	if err := d.q.OutboxAck(ctx, it); err != nil {
		d.log.Warn("webhook outbox ack not recorded", "webhook_id", it.ID, "err", err)
	}
}

// post sends one signed request; any non-2xx status, timeout or transport error is an error.
func (d *Dispatcher) post(ctx context.Context, ep Endpoint, it queue.OutboxItem) error {
	body, err := Body(it.Event)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	ts := d.clock.Now()
	sig, err := Sign(ep.Secret, it.ID, ts, body)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.opts.UserAgent)
	req.Header.Set(HeaderID, it.ID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(ts.Unix()))
	req.Header.Set(HeaderSignature, sig)
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return nil
}
