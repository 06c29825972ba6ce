package submission

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener wraps accepted connections in limitConn and tracks them in conns.
type limitListener struct {
	net.Listener
	maxLife time.Duration
	conns   *connSet
}

// Accept implements net.Listener.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &limitConn{Conn: c, end: time.Now().Add(l.maxLife), set: l.conns}
	if err := c.SetReadDeadline(lc.end); err != nil {
		_ = c.Close()
		return nil, err
	}
	if !l.conns.add(lc) { // accepted as Shutdown closed the set
		_ = c.Close()
		return nil, net.ErrClosed
	}
	return lc, nil
}

// connSet tracks the open session connections of a Server, so that Shutdown can close them
// itself: go-smtp v0.25.1's Close does nothing once its Shutdown has started.
type connSet struct {
	mu      sync.Mutex
	conns   map[*limitConn]struct{}
	closing bool
	empty   chan struct{} // closed once closing and no connection is left
}

// newConnSet returns an empty, open set.
func newConnSet() *connSet {
	return &connSet{conns: make(map[*limitConn]struct{}), empty: make(chan struct{})}
}

// add tracks c; false once closeAll has run (the caller closes c).
func (s *connSet) add(c *limitConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// remove forgets c, which its owner (go-smtp's connection goroutine) has closed.
func (s *connSet) remove(c *limitConn) {
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

// closeAll refuses new connections and closes the socket of every tracked one; each stays
// tracked until its goroutine, woken by the error, closes it in turn. It returns how many it
// closed and a channel closed once none is left.
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
		_ = c.Conn.Close()
	}
	return len(s.conns), s.empty
}

// limitConn caps every read deadline at the end of the session's life, so that no sequence of
// commands (a NOOP loop) keeps a connection forever, and lets the session end it early: after
// expire the next read is the end of the stream and go-smtp closes the connection. Reads only:
// the reply to the current command is still written. go-smtp sets deadlines through the
// *tls.Conn, which passes them down to this type.
type limitConn struct {
	net.Conn
	mu      sync.Mutex
	end     time.Time
	expired atomic.Bool
	set     *connSet
}

// Close implements net.Conn and stops tracking the connection.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.set.remove(c)
	return err
}

// Read implements net.Conn; after expire it is the end of the stream, which go-smtp takes as
// the client leaving (no further reply).
func (c *limitConn) Read(b []byte) (int, error) {
	if c.expired.Load() {
		return 0, io.EOF
	}
	return c.Conn.Read(b)
}

// SetDeadline implements net.Conn.
func (c *limitConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// SetReadDeadline implements net.Conn, capped at the end of the session.
func (c *limitConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.IsZero() || t.After(c.end) {
		t = c.end
	}
	return c.Conn.SetReadDeadline(t)
}

// expire ends the session at its next read.
func (c *limitConn) expire() {
	c.expired.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.end = time.Unix(1, 0)
	_ = c.Conn.SetReadDeadline(c.end)
}

// netConnOf finds the limitConn under a go-smtp connection (possibly inside a *tls.Conn).
func netConnOf(c net.Conn) *limitConn {
	for {
		switch v := c.(type) {
		case *limitConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
}
