package budget

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrExhausted is returned when a reservation could not be made within the wait: the caller
// answers "try again later" (HTTP 503 with Retry-After, IMAP NO [UNAVAILABLE]).
var ErrExhausted = errors.New("budget: memory budget exhausted, try again later")

// Bytes is a byte budget shared by the large-body paths. The zero value is not usable; a nil
// *Bytes is an unlimited budget (every reservation succeeds at once).
type Bytes struct {
	total int64
	wait  time.Duration
	sem   *semaphore.Weighted
}

// New returns a budget of total bytes; a reservation waits at most wait for its share.
// total <= 0 returns nil, the unlimited budget.
func New(total int64, wait time.Duration) *Bytes {
	if total <= 0 {
		return nil
	}
	return &Bytes{total: total, wait: wait, sem: semaphore.NewWeighted(total)}
}

// Total returns the size of the budget (0 for the unlimited one).
func (b *Bytes) Total() int64 {
	if b == nil {
		return 0
	}
	return b.total
}

// Reserve takes n bytes of the budget, waiting up to the budget's wait (or ctx) for them,
// and returns the function that gives them back (call it exactly once). A request larger
// than the whole budget takes all of it, so it runs alone rather than never. Waiters are
// served in order, so a large request is not starved by small ones.
func (b *Bytes) Reserve(ctx context.Context, n int64) (release func(), err error) {
	if b == nil || n <= 0 {
		return func() {}, nil
	}
	n = min(n, b.total)
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, ErrExhausted
	}
	return func() { b.sem.Release(n) }, nil
}
