package mta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"multimail.dev/multimail/queue"
)

// completeTimeout bounds recording an attempt's results, which happens even during shutdown.
const completeTimeout = 30 * time.Second

// Deliverer is the delivery engine: fixed worker pools that lease work from the queue,
// deliver it and record the outcomes.
type Deliverer struct {
	q       queue.Delivery
	opts    Options
	router  *router
	dialer  *dialer
	pool    *pool
	sources *sources
	pacer   *pacer
	metrics *metrics
	log     *slog.Logger
	err     error           // a configuration error, reported by Run
	sts     *stsManager     // nil: MTA-STS off
	tlsrpt  *tlsrptRecorder // nil: TLS-RPT off
}

// New returns a Deliverer for q and registers its OnFinal with q (q.SetOnFinal), so that
// recipients the queue fails by itself get a DSN too; the last Deliverer made for a queue
// owns that hook. A bad option (a transport's next hop, a metrics registration clash) is
// reported by Run; Validate checks transports beforehand.
func New(q queue.Delivery, opts Options) *Deliverer {
	opts = opts.withDefaults()
	d := &Deliverer{q: q, opts: opts, dialer: newDialer(opts), pool: newPool(opts), log: opts.Logger}
	var errD, errR, errM, errS error
	d.sources, errS = newSources(opts)
	var errP error
	d.pacer, errP = newPacer(opts.Pacing, opts.Clock.Now, opts.Registerer)
	if opts.Resolver == nil {
		opts.Resolver, errD = systemResolver()
		d.opts.Resolver = opts.Resolver
	}
	d.router, errR = newRouter(opts, opts.Resolver)
	d.metrics, errM = newMetrics(opts.Registerer)
	if d.metrics == nil {
		d.metrics, _ = newMetrics(nil)
	}
	if opts.PacingStateFile != "" && errS == nil && errP == nil {
		if err := d.readPacingState(); err != nil {
			d.log.Error("pacing state not restored", "err", err)
		}
	}
	errT := d.newTransportSecurity()
	d.err = errors.Join(errD, errR, errM, errS, errP, errT)
	if q != nil {
		q.SetOnFinal(d.OnFinal)
	}
	return d
}

// Validate checks a transport table: next hops parse as host[:port], TLS policies are known.
func Validate(ts []Transport) error {
	for _, t := range ts {
		if t.Domain == "" {
			return fmt.Errorf("mta: transport to %q: empty domain", t.NextHop)
		}
		if _, _, err := splitHostPort(t.NextHop); err != nil {
			return fmt.Errorf("mta: transport %q: %w", t.Domain, err)
		}
		if _, err := ParseTLSPolicy(string(t.TLS)); err != nil {
			return fmt.Errorf("mta: transport %q: %w", t.Domain, err)
		}
	}
	return nil
}

// Run starts HighWorkers workers on the high lane and BulkWorkers on high, normal and low,
// and blocks until ctx ends or the queue closes. Cancelling ctx cancels the deliveries in
// flight (their leases expire and return to ready); Run waits for every worker, closes the
// idle connections and returns nil, or the configuration error, or queue.ErrClosed.
func (d *Deliverer) Run(ctx context.Context) error {
	if d.err != nil {
		return d.err
	}
	var wg sync.WaitGroup
	if d.sts != nil {
		defer d.sts.fetches.Wait() // a policy fetch in flight saves the cache file before Run returns
	}
	if d.tlsrpt != nil {
		rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		done := make(chan struct{})
		go func() { defer close(done); d.tlsrpt.run(rctx) }()
		defer func() { stop(); <-done }() // the last flush happens after the workers stop
	}
	if d.opts.PacingStateFile != "" {
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		done := make(chan struct{})
		go func() { defer close(done); d.runPacingState(sctx) }()
		defer func() { stop(); <-done }() // the last save happens after the workers stop
	}
	for range d.opts.HighWorkers {
		wg.Go(func() { d.work(ctx, queue.LaneHigh) })
	}
	for range d.opts.BulkWorkers {
		wg.Go(func() { d.work(ctx, queue.LaneHigh, queue.LaneNormal, queue.LaneLow) })
	}
	wg.Wait()
	d.pool.close()
	if ctx.Err() == nil {
		return fmt.Errorf("mta: workers stopped: %w", queue.ErrClosed)
	}
	return nil
}

// work is one worker's loop: lease, deliver, complete.
func (d *Deliverer) work(ctx context.Context, lanes ...queue.Lane) {
	for {
		l, err := d.q.Next(ctx, lanes...)
		switch {
		case ctx.Err() != nil, errors.Is(err, queue.ErrClosed):
			return
		case err != nil:
			d.log.Error("lease", "err", err)
			if !pause(ctx, time.Second) {
				return
			}
			continue
		}
		d.process(ctx, l)
	}
}

// process delivers one lease and records its results.
func (d *Deliverer) process(ctx context.Context, l *queue.Lease) {
	start := d.opts.Clock.Now()
	log := d.log.With("msg_id", l.MsgID, "lane", l.Lane.String(), "domain", l.Domain,
		"attempt", l.Attempt)
	body, err := d.q.Body(ctx, l.MsgID)
	var results []queue.Result
	backoff := false
	if err != nil {
		e := temporary("4.3.0", err, "message body unavailable: %v", err)
		a := &attempt{lease: l, results: make([]*queue.Result, len(l.Recipients))}
		a.decideRest(e, "", false)
		results = a.final()
	} else {
		var later time.Time
		results, backoff, later = d.deliverPaced(ctx, l, body, true)
		if !later.IsZero() {
			d.postpone(ctx, l, later, log)
			return
		}
	}
	if interrupted(ctx, results) {
		log.Info("delivery interrupted by shutdown; the lease will return to the queue")
		return
	}
	d.observe(l, results, d.opts.Clock.Now().Sub(start), log)
	d.pacer.observe(results)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completeTimeout)
	defer cancel()
	finals, err := d.q.Complete(cctx, l, results, backoff)
	if err != nil {
		log.Warn("complete", "err", err)
		return
	}
	d.bounce(cctx, l, body, finals, log)
}

// postpone hands a lease that pacing held back to the queue, due again at until.
func (d *Deliverer) postpone(ctx context.Context, l *queue.Lease, until time.Time, log *slog.Logger) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completeTimeout)
	defer cancel()
	log.Debug("paced: postponed", "until", until)
	if err := d.q.Postpone(cctx, l, until); err != nil {
		log.Warn("postpone", "err", err)
	}
}

func (d *Deliverer) observe(l *queue.Lease, results []queue.Result, took time.Duration, log *slog.Logger) {
	d.metrics.seconds.WithLabelValues(l.Lane.String()).Observe(took.Seconds())
	for _, r := range results {
		outcome := outcomeLabel(r.Outcome)
		d.metrics.deliveries.WithLabelValues(outcome).Inc()
		level := slog.LevelInfo
		if r.Outcome == queue.Delivered {
			level = slog.LevelDebug
		}
		log.Log(context.Background(), level, outcome, "rcpt", r.Recipient, "mx", r.MXHost,
			"code", r.SMTPCode, "status", r.EnhancedCode, "detail", r.Detail, "tls", r.TLS)
	}
}

// pause waits d or until ctx ends; it reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
