package submission

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener wraps accepted connections in limitConn.
type limitListener struct {
	net.Listener
	maxLife time.Duration
}

// Accept implements net.Listener.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &limitConn{Conn: c, end: time.Now().Add(l.maxLife)}
	if err := c.SetReadDeadline(lc.end); err != nil {
		_ = c.Close()
		return nil, err
	}
	return lc, nil
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
