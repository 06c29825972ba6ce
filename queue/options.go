package queue

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/audit"
)

// Options configures a Queue. Zero values take the documented defaults.
type Options struct {
	MaxLifetime          time.Duration // default 120h: a recipient still deferred after this -> failed
	PerDomainConcurrency int           // default 10 leases in flight per recipient domain
	BackoffInitial       time.Duration // default 30s (first retry); exponential x2 with +-20% jitter
	BackoffMax           time.Duration // default 1h
	LeaseTTL             time.Duration // default 5m; expired leases return to ready
	LowEvery             int           // starvation guard: 1 in LowEvery bulk picks prefer low (default 8)
	Subscribers          []Subscriber  // webhook outbox fan-out
	OutboxMaxAge         time.Duration // default 72h (must be >= 24h): give up on an outbox entry after this
	TestRetention        time.Duration // default 7 days: how long the test outbox keeps a test message's bytes
	// OnFinal, when set, is told about recipients the queue finalised by itself inside Next
	// (expired past ExpiresAt, failed past MaxLifetime); see FinalFunc. Complete returns its
	// Finals instead and does not call it. SetOnFinal sets it after Open.
	OnFinal FinalFunc
	// Audit, when set, receives a record of every enqueue and approval decision in the same
	// batch as the change (audit.Journal.Commit).
	Audit      *audit.Journal
	Clock      Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil -> no metrics registered
}

// FinalFunc receives recipients of message msgID that the queue finalised by itself (not
// through Complete), so that the caller can send a DSN. It is called after the synced commit,
// outside every lock of the queue, before the message's body is deleted (so Body and Status
// still answer), from the goroutine that called Next; ctx is that Next's context. It may call
// any Queue method (Enqueue a DSN, read the Body). A body left behind by a crash between the
// commit and the deletion that follows the hook is the only cost of that ordering.
type FinalFunc func(ctx context.Context, msgID string, finals []Final)

// Defaults of Options.
const (
	DefaultMaxLifetime          = 120 * time.Hour
	DefaultTestRetention        = 7 * 24 * time.Hour
	DefaultPerDomainConcurrency = 10
	DefaultBackoffInitial       = 30 * time.Second
	DefaultBackoffMax           = time.Hour
	DefaultLeaseTTL             = 5 * time.Minute
	DefaultLowEvery             = 8
	DefaultOutboxMaxAge         = 72 * time.Hour

	idempotencyTTL = 24 * time.Hour
)

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// withDefaults fills zero fields and validates the rest.
func (o Options) withDefaults() (Options, error) {
	setDur(&o.MaxLifetime, DefaultMaxLifetime)
	setDur(&o.BackoffInitial, DefaultBackoffInitial)
	setDur(&o.BackoffMax, DefaultBackoffMax)
	setDur(&o.LeaseTTL, DefaultLeaseTTL)
	setDur(&o.OutboxMaxAge, DefaultOutboxMaxAge)
	setDur(&o.TestRetention, DefaultTestRetention)
	if o.PerDomainConcurrency == 0 {
		o.PerDomainConcurrency = DefaultPerDomainConcurrency
	}
	if o.LowEvery == 0 {
		o.LowEvery = DefaultLowEvery
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, o.validate()
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func (o Options) validate() error {
	switch {
	case o.MaxLifetime < 0, o.BackoffInitial < 0, o.BackoffMax < o.BackoffInitial, o.LeaseTTL < 0:
		return fmt.Errorf("%w: negative duration or BackoffMax < BackoffInitial", ErrInvalid)
	case o.PerDomainConcurrency < 0 || o.LowEvery < 0:
		return fmt.Errorf("%w: negative PerDomainConcurrency or LowEvery", ErrInvalid)
	case o.OutboxMaxAge < 24*time.Hour:
		return fmt.Errorf("%w: OutboxMaxAge %v < 24h", ErrInvalid, o.OutboxMaxAge)
	}
	return validSubscribers(o.Subscribers)
}

func validSubscribers(subs []Subscriber) error {
	for _, s := range subs {
		if s.ID == "" || len(s.ID) > 255 {
			return fmt.Errorf("%w: subscriber id %q", ErrInvalid, s.ID)
		}
	}
	return nil
}

// SetSubscribers replaces the webhook fan-out (a config reload): events journalled from now on
// get one outbox entry per subscriber of subs; entries already in the outbox stay as they are.
func (q *Queue) SetSubscribers(subs []Subscriber) error {
	if err := validSubscribers(subs); err != nil {
		return err
	}
	subs = slices.Clone(subs)
	q.subs.Store(&subs)
	return nil
}
