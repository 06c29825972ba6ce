package diskfloor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrInsufficientStorage is Admit's answer below the floor. Callers map it to their protocol's
// "try again later": HTTP 503 insufficient_storage, IMAP NO [UNAVAILABLE], SMTP 452 4.3.1.
var ErrInsufficientStorage = errors.New("diskfloor: free space is below the floor")

// BallastName is the ballast file's name inside Options.Dir.
const BallastName = "ballast"

// Defaults of Options.
const (
	DefaultInterval = time.Second
	DefaultMaxAge   = time.Second
	minReleaseMark  = 1 << 20
)

// Usage is what statfs tells about a filesystem.
type Usage struct {
	Free  int64 // bytes available to an unprivileged user
	Total int64 // the filesystem's size
}

// Status is the guard's latest reading.
type Status struct {
	Free      int64     // bytes available on the data directory's filesystem
	Total     int64     // the filesystem's size
	MinFree   int64     // the floor; 0 when there is none
	Ballast   int64     // bytes the ballast file holds now (0 when released or off)
	Below     bool      // Free < MinFree: new mail is refused
	CheckedAt time.Time // when statfs was read
	Err       error     // the last statfs error, if any (the floor is then not enforced)
}

// Options configure a Guard. Dir is required; zero values take the defaults.
type Options struct {
	Dir        string                // the data directory: its filesystem is watched, the ballast lives in it
	MinFree    int64                 // the floor in bytes; 0 turns it off
	Ballast    int64                 // the ballast file's size in bytes; 0 turns it off
	Interval   time.Duration         // how often Run polls; default 1 s
	MaxAge     time.Duration         // how old a cached reading Admit trusts; default 1 s
	Logger     *slog.Logger          // nil discards
	Registerer prometheus.Registerer // nil registers no metrics
	// Statfs reads the filesystem; nil is the real statfs(2). Tests pass a fake disk.
	Statfs func(dir string) (Usage, error)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Guard enforces the floor and keeps the ballast. It is safe for concurrent use.
type Guard struct {
	opts    Options
	log     *slog.Logger
	ballast ballast
	m       *metrics
	bmu     sync.Mutex // serializes creating and releasing the ballast

	mu sync.Mutex
	st Status
}

// New checks the filesystem once and returns a Guard; Run keeps it current.
func New(opts Options) (*Guard, error) {
	if opts.Dir == "" {
		return nil, errors.New("diskfloor: no directory")
	}
	if opts.MinFree < 0 || opts.Ballast < 0 {
		return nil, errors.New("diskfloor: negative size")
	}
	opts = withDefaults(opts)
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	g := &Guard{opts: opts, log: opts.Logger, ballast: newBallast(opts.Dir, opts.Ballast), m: m}
	if _, err := opts.Statfs(opts.Dir); err != nil && (opts.MinFree > 0 || opts.Ballast > 0) {
		return nil, fmt.Errorf("diskfloor: statfs %s: %w", opts.Dir, err)
	}
	if err := g.ballast.load(); err != nil {
		return nil, err
	}
	g.refresh()
	return g, nil
}

func withDefaults(o Options) Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Statfs == nil {
		o.Statfs = statfs
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Admit returns ErrInsufficientStorage while free space is below the floor, nil otherwise. It
// has the shape of the SMTP core's Admit hook. A reading older than MaxAge is refreshed first,
// so it costs a statfs at most once per MaxAge.
func (g *Guard) Admit() error {
	if g.opts.MinFree == 0 {
		return nil
	}
	if g.Status().Below {
		g.m.refused.Inc()
		return ErrInsufficientStorage
	}
	return nil
}

// Status returns the latest reading, refreshed if it is older than MaxAge.
func (g *Guard) Status() Status {
	g.mu.Lock()
	st := g.st
	g.mu.Unlock()
	if g.opts.Now().Sub(st.CheckedAt) < g.opts.MaxAge {
		return st
	}
	return g.refresh()
}

// Run polls the filesystem every Interval, releasing and recreating the ballast, until ctx
// ends. It returns nil when ctx ends.
func (g *Guard) Run(ctx context.Context) error {
	t := time.NewTicker(g.opts.Interval)
	defer t.Stop()
	for {
		g.Check()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check reads the filesystem now and releases or recreates the ballast as the reading asks.
func (g *Guard) Check() Status {
	st := g.refresh()
	if st.Err != nil || g.opts.Ballast == 0 || g.ballast.held() || st.Free < g.opts.MinFree+g.opts.Ballast {
		return st
	}
	g.bmu.Lock()
	defer g.bmu.Unlock()
	if g.ballast.held() {
		return st
	}
	if err := g.ballast.create(); err != nil {
		g.log.Warn("create the ballast", "err", err)
		return g.read()
	}
	g.log.Info("ballast in place", "ballast_bytes", g.opts.Ballast, "path", g.ballast.path)
	return g.read()
}

// refresh reads the filesystem and, when free space has run out below the release mark while
// the ballast is held, releases it at once: every reading does this, so a disk filled between
// two polls is noticed by the next Admit.
func (g *Guard) refresh() Status {
	st := g.read()
	if st.Err != nil || !g.ballast.held() || st.Free >= g.releaseMark() {
		return st
	}
	g.bmu.Lock()
	defer g.bmu.Unlock()
	if !g.ballast.held() {
		return g.read()
	}
	if err := g.ballast.release(); err != nil {
		g.log.Error("release the ballast", "err", err)
		return st
	}
	g.log.Warn("free space nearly exhausted: ballast released to keep delivery and compactions going",
		"free_bytes", st.Free, "ballast_bytes", g.opts.Ballast)
	return g.read()
}

// releaseMark is the free space under which the ballast is given back: a quarter of the
// floor (the floor's band is being eaten by something other than acceptance), at least 1 MiB.
func (g *Guard) releaseMark() int64 { return max(g.opts.MinFree/4, minReleaseMark) }

// read reads statfs, stores the reading, logs a crossing of the floor and sets the gauges.
func (g *Guard) read() Status {
	u, err := g.opts.Statfs(g.opts.Dir)
	st := Status{Free: u.Free, Total: u.Total, MinFree: g.opts.MinFree, Ballast: g.ballast.size(),
		CheckedAt: g.opts.Now(), Err: err}
	st.Below = err == nil && g.opts.MinFree > 0 && u.Free < g.opts.MinFree
	g.mu.Lock()
	was := g.st
	g.st = st
	g.mu.Unlock()
	switch {
	case err != nil && was.Err == nil:
		g.log.Error("statfs failed: the free-space floor is not enforced", "dir", g.opts.Dir, "err", err)
	case st.Below && !was.Below:
		g.log.Warn("free space below the floor: refusing new mail", "free_bytes", st.Free, "min_free", st.MinFree)
	case !st.Below && was.Below:
		g.log.Info("free space back above the floor: accepting new mail", "free_bytes", st.Free, "min_free", st.MinFree)
	}
	g.m.set(st)
	return st
}
