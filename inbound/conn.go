package inbound

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener wraps accepted connections in limitConn and keeps them in conns.
type limitListener struct {
	net.Listener
	maxLife time.Duration
	now     func() time.Time
	conns   *connSet
}

// Accept implements net.Listener.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &limitConn{Conn: c, end: l.now().Add(l.maxLife), set: l.conns}
	if err := c.SetReadDeadline(lc.end); err != nil {
		_ = c.Close()
		return nil, err
	}
	l.conns.add(lc)
	return lc, nil
}

// connSet is the open connections, for the hard stop of Shutdown: go-smtp's Close does
// nothing once Shutdown has begun, so we close the connections ourselves.
type connSet struct {
	mu sync.Mutex
	m  map[*limitConn]struct{}
}

func (s *connSet) add(c *limitConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[*limitConn]struct{})
	}
	s.m[c] = struct{}{}
}

func (s *connSet) remove(c *limitConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, c)
}

// closeAll closes every open connection; their sessions end at the next read or write.
func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.m {
		_ = c.Conn.Close()
		delete(s.m, c)
	}
}

// limitConn caps every read deadline at the end of the session's life, so that no sequence of
// commands (a NOOP loop) keeps a connection forever, and lets the session end it early: after
// expire the next read is the end of the stream and go-smtp closes the connection. Reads only:
// the reply to the current command is still written. go-smtp sets deadlines through the
// *tls.Conn after STARTTLS, which passes them down to this type.
type limitConn struct {
	net.Conn
	mu      sync.Mutex
	end     time.Time
	expired atomic.Bool
	set     *connSet
}

// Close implements net.Conn.
func (c *limitConn) Close() error {
	c.set.remove(c)
	return c.Conn.Close()
}

// Read implements net.Conn; after expire it is the end of the stream, which go-smtp takes as
// the client leaving.
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

// limitConnOf finds the limitConn under a go-smtp connection (possibly inside a *tls.Conn).
func limitConnOf(c net.Conn) *limitConn {
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

// idleReader refreshes the connection's read deadline before every read of DATA, so that
// ReadTimeout bounds the idle time between bytes rather than the whole transfer.
type idleReader struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
	now     func() time.Time
}

// Read implements io.Reader.
func (r *idleReader) Read(b []byte) (int, error) {
	_ = r.conn.SetReadDeadline(r.now().Add(r.timeout))
	return r.r.Read(b)
}
