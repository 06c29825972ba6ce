package mta

import (
	"context"
	"fmt"
	"math"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/publicsuffix"

	"multimail.dev/multimail/queue"
)

// Pacing limits how fast mail goes to one destination: the provider behind the MX host (the
// registrable domain of its name, "google.com" for gmail-smtp-in.l.google.com, or the IP of
// an IP-literal next hop), not the recipient domain, so that a thousand domains hosted by one
// provider share one budget. Providers publish no exact numbers; the defaults are
// conservative (docs/deliverability.md).
type Pacing struct {
	// Off turns the rate limit and the adaptive slow-down off (Options.MaxConnUses, the
	// messages per connection, still applies).
	Off bool
	// PerMinute is the messages per minute to one destination; default 300.
	PerMinute float64
	// PerDestination overrides PerMinute for a destination key ("google.com": 600).
	PerDestination map[string]float64
	// Burst is how many messages may go at once after a quiet spell; default PerMinute/10
	// (six seconds' worth), at least 1.
	Burst int
	// HighReserve is the share of the burst only the high lane may use, so that bulk mail
	// that fills the budget leaves room for a login code; default 0.25.
	HighReserve float64
	// MaxWait is the longest a high-lane delivery waits for room before its lease goes back
	// to the queue for later (no attempt counted); default 2s. Bulk (normal, low) never
	// waits: its lease would hold a concurrency slot of the domain that high shares.
	MaxWait time.Duration
	// ThrottleBackoff is how long a destination is left alone after a throttling reply
	// (421 4.7.28, 451 4.7.650, …), doubling on each further one up to MaxThrottleBackoff;
	// defaults 1m and 30m. Each throttling reply also halves the destination's rate (down to
	// 1/64 of it); each delivered message raises it by 5% again.
	ThrottleBackoff    time.Duration
	MaxThrottleBackoff time.Duration
}

func (p Pacing) withDefaults() Pacing {
	setDefault(&p.PerMinute, 300)
	if p.Burst <= 0 {
		p.Burst = max(1, int(p.PerMinute/10))
	}
	setDefault(&p.HighReserve, 0.25)
	setDefault(&p.MaxWait, 2*time.Second)
	setDefault(&p.ThrottleBackoff, time.Minute)
	setDefault(&p.MaxThrottleBackoff, 30*time.Minute)
	return p
}

// Bounds of the adaptive rate factor.
const (
	minRateFactor = 1.0 / 64
	recoverFactor = 1.05
	maxPacerDests = 100_000 // destinations remembered; the idle ones go first past this
)

// pacer holds one token bucket per destination.
type pacer struct {
	opts  Pacing
	now   func() time.Time
	mu    sync.Mutex
	dests map[string]*bucket

	changed chan struct{} // a destination was throttled: save the state now (pacing_state.go)

	waited    prometheus.Counter
	postponed prometheus.Counter
	throttled prometheus.Counter
}

// bucket is one destination's budget. tokens refill at rate per second (the configured rate
// times factor) up to burst; paused holds everyone off after a throttling reply.
type bucket struct {
	rate     float64 // configured, per second
	factor   float64 // adaptive slow-down, in [minRateFactor, 1]
	tokens   float64
	last     time.Time
	paused   time.Time
	strikes  int       // consecutive throttling replies
	booked   time.Time // the last slot handed to a postponed bulk lease
	lastUsed time.Time
}

func newPacer(o Pacing, now func() time.Time, reg prometheus.Registerer) (*pacer, error) {
	p := &pacer{opts: o.withDefaults(), now: now, dests: map[string]*bucket{}, changed: make(chan struct{}, 1),
		waited: prometheus.NewCounter(prometheus.CounterOpts{Name: "multimail_mta_paced_waits_total",
			Help: "Deliveries that waited for room in their destination's pacing budget."}),
		postponed: prometheus.NewCounter(prometheus.CounterOpts{Name: "multimail_mta_paced_postponed_total",
			Help: "Leases handed back to the queue for later by pacing, without an attempt."}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{Name: "multimail_mta_throttled_total",
			Help: "Throttling replies (421 4.7.28, 451 4.7.650, …) that slowed a destination down."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{p.waited, p.postponed, p.throttled} {
			if err := reg.Register(c); err != nil {
				return p, fmt.Errorf("mta: register pacing metrics: %w", err)
			}
		}
	}
	return p, nil
}

// destKey is the pacing key of a next-hop name: its registrable domain, or the IP itself.
func destKey(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return host
	}
	if k, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return k
	}
	return host
}

// bucketLocked returns key's bucket, refilled up to now. Needs p.mu.
func (p *pacer) bucketLocked(key string, now time.Time) *bucket {
	b := p.dests[key]
	if b == nil {
		if len(p.dests) >= maxPacerDests {
			p.evictLocked()
		}
		rate := p.opts.PerMinute
		if r, ok := p.opts.PerDestination[key]; ok && r > 0 {
			rate = r
		}
		b = &bucket{rate: rate / 60, factor: 1, tokens: float64(p.opts.Burst), last: now}
		p.dests[key] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(float64(p.opts.Burst), b.tokens+dt*b.rate*b.factor)
		b.last = now
	}
	b.lastUsed = now
	return b
}

// evictLocked forgets the half of the destinations used least recently.
func (p *pacer) evictLocked() {
	var cut time.Time
	for _, b := range p.dests {
		if cut.IsZero() || b.lastUsed.Before(cut) {
			cut = b.lastUsed
		}
	}
	cut = cut.Add(p.now().Sub(cut) / 2)
	for k, b := range p.dests {
		if !b.lastUsed.After(cut) {
			delete(p.dests, k)
		}
	}
}

// try takes one token for lane if there is room; otherwise it says how long until there may
// be. Bulk lanes leave HighReserve of the burst to the high lane.
func (p *pacer) try(key string, lane queue.Lane) (bool, time.Duration) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.bucketLocked(key, now)
	if now.Before(b.paused) {
		return false, b.paused.Sub(now)
	}
	need := 1.0
	if lane != queue.LaneHigh {
		need += math.Floor(p.opts.HighReserve * float64(p.opts.Burst))
		need = math.Min(need, float64(p.opts.Burst)) // a burst of 1 leaves no reserve
	}
	if b.tokens >= need {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((need - b.tokens) / (b.rate * b.factor) * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// admit waits for room for one message to key, at most MaxWait; when there is none it
// returns when the lease should be tried again.
func (p *pacer) admit(ctx context.Context, key string, lane queue.Lane) (time.Time, bool) {
	if p.opts.Off {
		return time.Time{}, true
	}
	budget := p.opts.MaxWait
	if lane != queue.LaneHigh {
		// A waiting lease holds one of its recipient domain's concurrency slots, which the
		// high lane shares: bulk never waits, it books a later slot at once.
		budget = 0
	}
	waited := false
	for i := 0; i < 64; i++ { // bounded: each round sleeps or returns
		ok, wait := p.try(key, lane)
		if ok {
			if waited {
				p.waited.Inc()
			}
			return time.Time{}, true
		}
		if wait > budget || ctx.Err() != nil {
			p.postponed.Inc()
			return p.book(key, lane, wait), false
		}
		waited = true
		budget -= wait
		if !pause(ctx, wait) {
			return p.now(), false
		}
	}
	p.postponed.Inc()
	return p.now().Add(p.opts.MaxWait), false
}

// book returns when a postponed lease should come back. High gets the first moment there
// may be room; bulk leases get successive slots one message interval apart, so that a
// backlog comes back spread at the destination's rate instead of all at once.
func (p *pacer) book(key string, lane queue.Lane, wait time.Duration) time.Time {
	now := p.now()
	at := now.Add(wait)
	if lane == queue.LaneHigh {
		return at
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.bucketLocked(key, now)
	if b.booked.After(at) {
		at = b.booked
	}
	b.booked = at.Add(time.Duration(float64(time.Second) / (b.rate * b.factor)))
	return at
}

// observe adapts each destination to the replies of one attempt: a throttling reply pauses
// and slows it down, a delivery speeds it up again.
func (p *pacer) observe(results []queue.Result) {
	if p.opts.Off {
		return
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	throttledNow := map[string]bool{}
	for _, r := range results {
		if r.MXHost == "" {
			continue
		}
		key := destKey(r.MXHost)
		b := p.bucketLocked(key, now)
		switch {
		case r.Outcome == queue.Delivered:
			b.factor = math.Min(1, b.factor*recoverFactor)
			b.strikes = 0
		case r.Outcome == queue.Deferred && isThrottle(r.SMTPCode, r.EnhancedCode, r.Detail) && !throttledNow[key]:
			throttledNow[key] = true // one reply per attempt and destination counts once
			p.throttled.Inc()
			b.strikes++
			b.factor = math.Max(minRateFactor, b.factor/2)
			b.tokens = 0
			d := p.opts.ThrottleBackoff
			for i := 1; i < b.strikes && d < p.opts.MaxThrottleBackoff; i++ {
				d *= 2
			}
			b.paused = now.Add(min(d, p.opts.MaxThrottleBackoff))
			b.booked = time.Time{} // slots were booked at the old rate
			select {
			case p.changed <- struct{}{}:
			default:
			}
		}
	}
}

// Replies that say "slow down": Gmail's 4.7.28 (unusual rate), Outlook's 4.7.650-652
// (rate limited by IP reputation), and the words receivers use for it (Yahoo's TSS04
// "temporarily deferred due to unexpected volume", "rate limit", "too many messages").
var (
	throttleStatus = map[string]bool{"4.7.28": true, "4.7.650": true, "4.7.651": true, "4.7.652": true}
	throttleWords  = regexp.MustCompile(`(?i)rate.?limit|throttl|too many (messages|mails|emails|connections|sessions)|unusual rate|unexpected volume|\bTSS0[0-9]\b|sending rate|slow down`)
	greylistWords  = regexp.MustCompile(`(?i)gr[ae]y.?list`)
)

// isThrottle tells a throttling reply (the destination wants less mail from us: back off
// the whole destination) from greylisting (451 4.7.1 "greylisted, try again later": retry
// this recipient in a few minutes, nothing to slow down) and other temporary failures.
func isThrottle(code int, status, text string) bool {
	if code < 400 || code >= 500 || greylistWords.MatchString(text) {
		return false
	}
	return throttleStatus[status] || throttleWords.MatchString(text)
}
