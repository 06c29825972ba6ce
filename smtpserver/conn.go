package smtpserver

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// listener wraps every accepted connection: a sessionConn (life cap, early end, tracking for
// Shutdown) over a flushConn (replies in one write) over the accepted net.Conn. TLS, implicit
// or after STARTTLS, sits on top of both, so one reply's TLS records also leave in one write.
type listener struct {
	net.Listener
	srv *Server
}

// Accept implements net.Listener.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &sessionConn{Conn: &flushConn{Conn: c}, end: l.srv.now().Add(l.srv.opts.MaxSessionTime), set: l.srv.conns}
	if err := c.SetReadDeadline(sc.end); err != nil {
		_ = c.Close()
		return nil, err
	}
	if !l.srv.conns.add(sc) { // accepted while Shutdown closed the set
		_ = c.Close()
		return nil, net.ErrClosed
	}
	return sc, nil
}

// connSet tracks the open session connections of a Server, so that Shutdown can close them
// itself: go-smtp v0.25.1's Close does nothing once its Shutdown has started.
type connSet struct {
	mu      sync.Mutex
	conns   map[*sessionConn]struct{}
	closing bool
	empty   chan struct{} // closed once closing and no connection is left
}

// newConnSet returns an empty, open set.
func newConnSet() *connSet {
	return &connSet{conns: make(map[*sessionConn]struct{}), empty: make(chan struct{})}
}

// add tracks c; false once closeAll has run (the caller closes c).
func (s *connSet) add(c *sessionConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// remove forgets c, which its owner (go-smtp's connection goroutine) has closed.
func (s *connSet) remove(c *sessionConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.closing && len(s.conns) == 0 {
		close(s.empty)
	}
}

// len is the number of open connections.
func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// closeAll refuses new connections and closes the socket of every tracked one (unflushed
// replies are dropped: the session is being cut); each stays tracked until its goroutine,
// woken by the error, closes it in turn. It returns how many it closed and a channel closed
// once none is left.
func (s *connSet) closeAll() (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closing = true
		if len(s.conns) == 0 {
			close(s.empty)
		}
	}
	for c := range s.conns {
		_ = c.raw().Close()
	}
	return len(s.conns), s.empty
}

// sessionConn caps every read deadline at the end of the session's life, so that no sequence
// of commands (a NOOP loop) nor a slow DATA keeps a connection forever, and lets the session end
// it early: after expire the next read is the end of the stream and go-smtp closes the
// connection. Reads only: the reply to the current command is still written. go-smtp sets
// deadlines through the *tls.Conn, which passes them down to this type.
type sessionConn struct {
	net.Conn // a *flushConn
	mu       sync.Mutex
	end      time.Time
	expired  atomic.Bool
	set      *connSet
	closed   atomic.Bool
}

// raw is the accepted connection under the write buffer.
func (c *sessionConn) raw() net.Conn { return c.Conn.(*flushConn).Conn }

// Close implements net.Conn: it flushes pending replies, closes and stops tracking.
func (c *sessionConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.set.remove(c)
	}
	return err
}

// Read implements net.Conn; after expire it is the end of the stream, which go-smtp takes as
// the client leaving (no further reply).
func (c *sessionConn) Read(b []byte) (int, error) {
	if c.expired.Load() {
		return 0, io.EOF
	}
	return c.Conn.Read(b)
}

// SetDeadline implements net.Conn.
func (c *sessionConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// SetReadDeadline implements net.Conn, capped at the end of the session.
func (c *sessionConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.IsZero() || t.After(c.end) {
		t = c.end
	}
	return c.Conn.SetReadDeadline(t)
}

// expire ends the session at its next read.
func (c *sessionConn) expire() {
	c.expired.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.end = time.Unix(1, 0)
	_ = c.Conn.SetReadDeadline(c.end)
}

// sessionConnOf finds the sessionConn under a go-smtp connection (possibly inside a *tls.Conn).
func sessionConnOf(c net.Conn) *sessionConn {
	for {
		switch v := c.(type) {
		case *sessionConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
}

// flushAt is the buffered size past which flushConn writes without waiting for a read.
const flushAt = 32 << 10

// flushConn coalesces writes: they are buffered and go out in one write before the next read
// and on Close. go-smtp writes each line of a multi-line reply (EHLO) with its own write; a
// client that reads one segment per reply would otherwise get part of it and lose sync. go-smtp
// always reads after replying (or closes), so nothing waits in the buffer while the client
// waits for it. A write error is kept and returned by the next Read or Write.
type flushConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
	err error
}

// Write implements net.Conn: p is buffered (written at once past flushAt).
func (c *flushConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= flushAt {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Read implements net.Conn: pending writes go out first.
func (c *flushConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Close implements net.Conn: pending writes go out first. *tls.Conn's Close sends its
// close_notify and then sets the write deadline to now ("any subsequent writes will fail"), so
// the flush gets a deadline of its own.
func (c *flushConn) Close() error {
	c.mu.Lock()
	if len(c.buf) > 0 && c.err == nil {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		_ = c.flushLocked()
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// closeFlushTimeout bounds the last flush of a closing connection.
const closeFlushTimeout = 5 * time.Second

// flush writes what is buffered.
func (c *flushConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *flushConn) flushLocked() error {
	if c.err != nil {
		return c.err
	}
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 2*flushAt {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	if err != nil {
		c.err = err
	}
	return err
}
