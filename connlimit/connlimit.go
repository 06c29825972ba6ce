// Package connlimit caps the open connections of a kind of listener (SMTP, IMAP, HTTP), in all
// and per client address, so that a flood of idle connections on one protocol can exhaust
// neither the process's file descriptors nor the other listeners. A connection over a cap is
// answered with the protocol's refusal (SMTP "421 4.7.0", IMAP "* BYE", an HTTP 503) and
// closed; the caller never sees it. It imports no project package.
//
// One Limiter is shared by the listeners of one kind (SMTP: 25, 587 and 465), each wrapped
// with Listener. Client addresses are counted per IPv4 address and per IPv6 /64 (one host
// usually holds a whole /64). Refusals are written by at most MaxRefusing goroutines at once,
// each bounded by RefusalTimeout; past that a refused connection is closed without a word.
//
// Metrics (NewMetrics): multimail_listener_connections{kind} (open, admitted connections) and
// multimail_listener_connections_refused_total{kind,reason} (reason: total, per_ip).
package connlimit

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// MaxRefusing bounds the refusals being written at once, per Limiter.
const MaxRefusing = 64

// RefusalTimeout bounds the writing of one refusal (a TLS handshake included) and, as much
// again, the reading of what the client sent before its connection is closed (so the refusal
// is not lost to a reset).
const RefusalTimeout = 2 * time.Second

// Options configure a Limiter.
type Options struct {
	Kind  string // metrics label and log name: "smtp", "imap", "http"
	Max   int    // open connections in all; <= 0: no cap
	PerIP int    // open connections per client address (IPv6: per /64); <= 0: no cap
	// Refusal is written to a connection over a cap before it is closed, e.g.
	// "421 4.7.0 mx.example.com Too many connections, try again later\r\n".
	Refusal []byte
	Metrics *Metrics     // nil: not counted
	Logger  *slog.Logger // nil: silent
}

// Limiter counts the open connections of one kind of listener. It is safe for concurrent use.
type Limiter struct {
	opts     Options
	log      *slog.Logger
	refusing chan struct{}

	mu    sync.Mutex
	open  int
	perIP map[netip.Addr]int

	logMu    sync.Mutex
	lastLog  time.Time
	unlogged int
}

// New makes a Limiter.
func New(opts Options) *Limiter {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Limiter{opts: opts, log: opts.Logger, refusing: make(chan struct{}, MaxRefusing),
		perIP: make(map[netip.Addr]int)}
}

// Open is the number of connections open now.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Listener wraps ln: Accept returns only connections within the caps. With tlsConfig set
// (an implicit-TLS port), the refusal is written inside a TLS session.
func (l *Limiter) Listener(ln net.Listener, tlsConfig *tls.Config) net.Listener {
	return &listener{Listener: ln, lim: l, tls: tlsConfig}
}

// acquire counts a new connection from key; it returns "" or the reason it is over a cap.
func (l *Limiter) acquire(key netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.Max > 0 && l.open >= l.opts.Max {
		return "total"
	}
	if l.opts.PerIP > 0 && key.IsValid() && l.perIP[key] >= l.opts.PerIP {
		return "per_ip"
	}
	l.open++
	if key.IsValid() {
		l.perIP[key]++
	}
	if m := l.opts.Metrics; m != nil {
		m.open.WithLabelValues(l.opts.Kind).Inc()
	}
	return ""
}

// release forgets a connection from key.
func (l *Limiter) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if key.IsValid() {
		if l.perIP[key]--; l.perIP[key] <= 0 {
			delete(l.perIP, key)
		}
	}
	if m := l.opts.Metrics; m != nil {
		m.open.WithLabelValues(l.opts.Kind).Dec()
	}
}

// refuse answers c with the refusal and closes it, in the background.
func (l *Limiter) refuse(c net.Conn, reason string, tlsConfig *tls.Config) {
	if m := l.opts.Metrics; m != nil {
		m.refused.WithLabelValues(l.opts.Kind, reason).Inc()
	}
	l.logRefusal(c, reason)
	select {
	case l.refusing <- struct{}{}:
	default:
		_ = c.Close() // too many refusals in flight: no word
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		writeRefusal(c, l.opts.Refusal, tlsConfig)
	}()
}

// logRefusal logs refusals at most once a second, with how many were not logged.
func (l *Limiter) logRefusal(c net.Conn, reason string) {
	l.logMu.Lock()
	defer l.logMu.Unlock()
	if time.Since(l.lastLog) < time.Second {
		l.unlogged++
		return
	}
	l.log.Warn("connection refused: over the cap", "kind", l.opts.Kind, "reason", reason,
		"remote", c.RemoteAddr().String(), "max", l.opts.Max, "max_per_ip", l.opts.PerIP,
		"refused_since_last_log", l.unlogged)
	l.lastLog, l.unlogged = time.Now(), 0
}

// writeRefusal writes msg to c (inside TLS when tlsConfig is set), half-closes, reads what
// the client sends until it closes or RefusalTimeout, and closes.
func writeRefusal(c net.Conn, msg []byte, tlsConfig *tls.Config) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(RefusalTimeout))
	w := c
	if tlsConfig != nil {
		tc := tls.Server(c, tlsConfig)
		if err := tc.Handshake(); err != nil {
			return
		}
		w = tc
	}
	if _, err := w.Write(msg); err != nil {
		return
	}
	if cw, ok := w.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(RefusalTimeout))
	_, _ = io.Copy(io.Discard, io.LimitReader(w, 64<<10))
}

// listener is a capped net.Listener.
type listener struct {
	net.Listener
	lim *Limiter
	tls *tls.Config
}

// Accept implements net.Listener: connections over a cap are refused here and never returned.
func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		if reason := ln.lim.acquire(key); reason != "" {
			ln.lim.refuse(c, reason, ln.tls)
			continue
		}
		return &conn{Conn: c, lim: ln.lim, key: key}, nil
	}
}

// conn is an admitted connection; closing it frees its place.
type conn struct {
	net.Conn
	lim  *Limiter
	key  netip.Addr
	once sync.Once
}

// Close implements net.Conn.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.lim.release(c.key) })
	return err
}

// NetConn returns the accepted connection (as *tls.Conn does).
func (c *conn) NetConn() net.Conn { return c.Conn }

// clientKey is the address a connection is counted under: the IPv4 address, or the /64 of an
// IPv6 address; invalid (not counted per address) for other networks.
func clientKey(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}
