package api

import (
	"math"
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per API key ID.
type limiter struct {
	cfg   RateLimit
	clock Clock

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(cfg RateLimit, clock Clock) *limiter {
	return &limiter{cfg: cfg, clock: clock, buckets: map[string]*rate.Limiter{}}
}

// allow takes one token for key, or returns a 429 *Error with Retry-After in whole seconds.
func (l *limiter) allow(key string) error {
	if l.cfg.PerSecond < 0 {
		return nil
	}
	b := l.bucket(key)
	now := l.clock.Now()
	res := b.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay == 0 {
		return nil
	}
	res.CancelAt(now)
	secs := int(math.Ceil(delay.Seconds()))
	return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: max(secs, 1),
		Message: "rate limit exceeded for this API key; retry after the Retry-After seconds"}
}

func (l *limiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst)
		l.buckets[key] = b
	}
	return b
}
