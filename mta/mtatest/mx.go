package mtatest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message the MX accepted with 250 at the end of DATA.
type Message struct {
	Conn     uint64    // connection number, from 1, in accept order
	Seq      int       // message number within its connection, from 1
	Helo     string    // the EHLO/HELO name the client gave
	RemoteIP string    // the client's source address (an outbound IP pool's, when bound)
	From     string    // MAIL FROM address ("" for the null sender)
	To       []string  // the recipients accepted at RCPT
	Data     []byte    // the raw message as received; nil with MXOptions.DiscardData
	Size     int       // len of the raw message
	TLS      bool      // whether the message came over a STARTTLS session
	Received time.Time // when DATA ended

	RequireTLS bool // MAIL FROM carried the REQUIRETLS parameter (RFC 8689)
}

// MXOptions configures an MX. The zero value is a plain-text MX on 127.0.0.1:0 that answers
// at once.
type MXOptions struct {
	// Addr is the listen address; default "127.0.0.1:0". It must be a loopback address.
	Addr string
	// Hostname is the name in the greeting; default "mx.mtatest.invalid".
	Hostname string
	// TLS offers STARTTLS with a self-signed certificate for Hostname.
	TLS bool
	// TLSConfig, when set, is the STARTTLS configuration (a certificate from a CA, for
	// tests that verify); it implies TLS.
	TLSConfig *tls.Config
	// BrokenTLS offers STARTTLS but fails every handshake (implies TLS).
	BrokenTLS bool
	// Delay is added before every end-of-DATA reply (a remote that takes time per message).
	Delay time.Duration
	// SlowDelay is the extra delay for slow-* recipients; default 2s.
	SlowDelay time.Duration
	// MaxMessageBytes is advertised with SIZE and enforced; 0 = no limit.
	MaxMessageBytes int64
	// SMTPUTF8 advertises the SMTPUTF8 extension.
	SMTPUTF8 bool
	// REQUIRETLS advertises REQUIRETLS (RFC 8689) after STARTTLS and accepts the parameter.
	REQUIRETLS bool
	// DiscardData keeps only the envelope and size of each message (for long load runs).
	DiscardData bool
	// LogPath, when set, receives one JSON line per accepted message (appended): the SINK_LOG
	// of the Postfix comparison script (docs/benchmarks.md). Fields: time, conn, seq, from, to, size, tls.
	LogPath string
	// RefuseSession, when set, answers every EHLO/HELO with this error (an *smtp.SMTPError
	// keeps its code): a host that will not talk.
	RefuseSession error
	// OnMessage, when set, is called for every accepted message before the 250 is sent.
	OnMessage func(Message)
	// Throttle, when set, refuses MAIL FROM past a rate: a provider that says "slow down".
	Throttle *Throttle
}

// Throttle is a throttling MX's rate: past Max messages accepted within Per, MAIL FROM gets
// Reply (default 421 4.7.28, Gmail's "unusual rate of unsolicited mail").
type Throttle struct {
	Max   int
	Per   time.Duration
	Reply *smtp.SMTPError
}

// MX is a recording SMTP server on loopback. Its methods are safe for concurrent use.
type MX struct {
	opts   MXOptions
	ln     net.Listener
	srv    *smtp.Server
	logf   *os.File
	logMu  sync.Mutex
	done   chan struct{}
	closed sync.Once
	serve  chan error

	conns atomic.Uint64

	mu      sync.Mutex
	tried   map[string]bool // tempfail1- recipients already refused once
	recent  []time.Time     // acceptance times within the Throttle window
	refused int             // MAIL FROMs refused by the Throttle
	msgs    []Message
	changed chan struct{} // closed and replaced on every arrival
}

// NewMX starts an MX for a test and closes it when the test ends.
func NewMX(t testing.TB, opts MXOptions) *MX {
	t.Helper()
	m, err := StartMX(opts)
	if err != nil {
		t.Fatalf("mtatest: start MX: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// StartMX starts an MX; the caller must Close it.
func StartMX(opts MXOptions) (*MX, error) {
	opts = opts.withDefaults()
	m := &MX{opts: opts, done: make(chan struct{}), serve: make(chan error, 1),
		changed: make(chan struct{})}
	srv, err := m.newServer()
	if err != nil {
		return nil, err
	}
	if opts.LogPath != "" {
		f, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("mtatest: open MX log: %w", err)
		}
		m.logf = f
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		m.closeLog()
		return nil, fmt.Errorf("mtatest: listen: %w", err)
	}
	m.ln, m.srv = &countingListener{Listener: ln, n: &m.conns}, srv
	go func() { m.serve <- srv.Serve(m.ln) }()
	return m, nil
}

func (o MXOptions) withDefaults() MXOptions {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Hostname == "" {
		o.Hostname = "mx.mtatest.invalid"
	}
	if o.SlowDelay == 0 {
		o.SlowDelay = 2 * time.Second
	}
	if o.BrokenTLS || o.TLSConfig != nil {
		o.TLS = true
	}
	return o
}

func (m *MX) newServer() (*smtp.Server, error) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		if m.opts.RefuseSession != nil {
			return nil, m.opts.RefuseSession
		}
		return &session{mx: m, conn: c}, nil
	}))
	srv.Domain = m.opts.Hostname
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = m.opts.MaxMessageBytes
	srv.EnableSMTPUTF8 = m.opts.SMTPUTF8
	srv.EnableREQUIRETLS = m.opts.REQUIRETLS
	srv.ErrorLog = log.New(discard{}, "", 0)
	if !m.opts.TLS {
		return srv, nil
	}
	cfg, err := selfSignedTLS(m.opts.Hostname)
	if err != nil {
		return nil, err
	}
	if m.opts.TLSConfig != nil {
		cfg = m.opts.TLSConfig
	}
	if m.opts.BrokenTLS {
		cfg = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return nil, errors.New("mtatest: broken TLS on purpose")
		}}
	}
	srv.TLSConfig = cfg
	return srv, nil
}

// Addr returns the "127.0.0.1:port" the MX listens on.
func (m *MX) Addr() string { return m.ln.Addr().String() }

// Port returns the TCP port the MX listens on.
func (m *MX) Port() int { return m.ln.Addr().(*net.TCPAddr).Port }

// Conns returns how many connections the MX has accepted so far.
func (m *MX) Conns() int { return int(m.conns.Load()) }

// Count returns how many messages the MX has accepted so far.
func (m *MX) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

// firstTry reports whether this is the first RCPT for addr (and remembers it): tempfail1-
// recipients are greylisted once, then accepted.
func (m *MX) firstTry(addr string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tried == nil {
		m.tried = map[string]bool{}
	}
	first := !m.tried[strings.ToLower(addr)]
	m.tried[strings.ToLower(addr)] = true
	return first
}

// throttled reports whether a MAIL FROM now is past the Throttle rate (and counts it).
func (m *MX) throttled() *smtp.SMTPError {
	t := m.opts.Throttle
	if t == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := time.Now().Add(-t.Per)
	for len(m.recent) > 0 && m.recent[0].Before(cut) {
		m.recent = m.recent[1:]
	}
	if len(m.recent) < t.Max {
		return nil
	}
	m.refused++
	if t.Reply != nil {
		return t.Reply
	}
	return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 28},
		Message: "Our system has detected an unusual rate of unsolicited mail, try again later"}
}

// Throttled returns how many MAIL FROMs the Throttle refused so far.
func (m *MX) Throttled() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refused
}

// Messages returns a copy of the accepted messages, in arrival order.
func (m *MX) Messages() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.msgs...)
}

// WaitFor blocks until at least n messages have arrived or ctx ends; it returns the messages
// received so far either way, and ctx's error when it ended first.
func (m *MX) WaitFor(ctx context.Context, n int) ([]Message, error) {
	return m.WaitUntil(ctx, func(msgs []Message) bool { return len(msgs) >= n })
}

// WaitUntil blocks until cond holds for the messages received so far, or ctx ends. cond is
// called with the MX's lock held: it must not call the MX's methods.
func (m *MX) WaitUntil(ctx context.Context, cond func([]Message) bool) ([]Message, error) {
	for {
		m.mu.Lock()
		if cond(m.msgs) {
			msgs := append([]Message(nil), m.msgs...)
			m.mu.Unlock()
			return msgs, nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return m.Messages(), ctx.Err()
		}
	}
}

// Close stops the server, drops its connections and closes the log file.
func (m *MX) Close() error {
	var err error
	m.closed.Do(func() {
		close(m.done)
		err = m.srv.Close()
		_ = m.ln.Close() // in case Serve had not registered the listener yet
		if serr := <-m.serve; serr != nil && !errors.Is(serr, smtp.ErrServerClosed) &&
			!errors.Is(serr, net.ErrClosed) {
			err = errors.Join(err, serr)
		}
		err = errors.Join(err, m.closeLog())
	})
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

func (m *MX) closeLog() error {
	m.logMu.Lock()
	defer m.logMu.Unlock()
	f := m.logf
	m.logf = nil
	if f == nil {
		return nil
	}
	return f.Close()
}

// record stores an accepted message, writes its log line and wakes waiters.
func (m *MX) record(msg Message) {
	if m.opts.OnMessage != nil {
		m.opts.OnMessage(msg)
	}
	m.writeLog(msg)
	m.mu.Lock()
	if m.opts.Throttle != nil {
		m.recent = append(m.recent, msg.Received)
	}
	m.msgs = append(m.msgs, msg)
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

type logLine struct {
	Time string   `json:"time"`
	Conn uint64   `json:"conn"`
	Seq  int      `json:"seq"`
	From string   `json:"from"`
	To   []string `json:"to"`
	Size int      `json:"size"`
	TLS  bool     `json:"tls"`
}

func (m *MX) writeLog(msg Message) {
	if m.opts.LogPath == "" {
		return
	}
	b, err := json.Marshal(logLine{Time: msg.Received.UTC().Format(time.RFC3339Nano),
		Conn: msg.Conn, Seq: msg.Seq, From: msg.From, To: msg.To, Size: msg.Size, TLS: msg.TLS})
	if err != nil {
		return
	}
	m.logMu.Lock()
	defer m.logMu.Unlock()
	if m.logf == nil {
		return
	}
	_, _ = m.logf.Write(append(b, '\n')) // one write a line: readers count complete lines
}

// sleep waits d or until the MX closes.
func (m *MX) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-m.done:
	}
}

// countingListener numbers accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Uint64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &numberedConn{Conn: c, id: l.n.Add(1)}, nil
}

// numberedConn carries the connection number and its message counter across STARTTLS.
type numberedConn struct {
	net.Conn
	id  uint64
	seq atomic.Int64
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
