package mta

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// errTLSFallback: an opportunistic STARTTLS failed mid-way; redial without TLS.
var errTLSFallback = errors.New("mta: opportunistic STARTTLS failed, retrying in plain text")

// dialer opens SMTP sessions: connect, greeting, EHLO, STARTTLS per policy.
type dialer struct {
	hostname       string
	connectTimeout time.Duration
	commandTimeout time.Duration
	dataTimeout    time.Duration
	tlsConfig      *tls.Config
	verifyRoots    *x509.CertPool // TLSVerify's roots (STSOptions.RootCAs); nil: the system's
}

func newDialer(o Options) *dialer {
	cfg := o.TLSConfig
	if cfg == nil {
		// RFC 7435: opportunistic security encrypts without authenticating the peer.
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec
	}
	d := &dialer{hostname: o.Hostname, connectTimeout: o.ConnectTimeout,
		commandTimeout: o.CommandTimeout, dataTimeout: o.DataTimeout, tlsConfig: cfg}
	if o.MTASTS != nil {
		d.verifyRoots = o.MTASTS.RootCAs
	}
	return d
}

// conn is one SMTP session to one next-hop address, reusable for several transactions.
type conn struct {
	key    poolKey
	src    source // where the session comes from: its pool, address and HELO name
	host   string // the hop name: Result.MXHost
	raw    net.Conn
	client *smtp.Client
	tls    bool
	certs  []*x509.Certificate // the peer's chain after STARTTLS (verified or not)
	d      *dialer
	uses   int
	broken bool // the session is unusable: never pooled

	idleGen   uint64      // guarded by the pool's lock
	idleTimer *time.Timer // guarded by the pool's lock
}

// dial opens a session to addr for hop h. Under the opportunistic policy a failed STARTTLS
// handshake falls back to a fresh plain-text session (RFC 7435 §3).
func (d *dialer) dial(ctx context.Context, h hop, addr string, src source) (*conn, error) {
	c, err := d.dialPolicy(ctx, h, addr, h.tls, src)
	if errors.Is(err, errTLSFallback) && ctx.Err() == nil {
		c, err = d.dialPolicy(ctx, h, addr, TLSNone, src)
	}
	if err != nil {
		return nil, err
	}
	c.key = keyFor(h, addr, src.pool)
	return c, nil
}

func (d *dialer) dialPolicy(ctx context.Context, h hop, addr string, policy TLSPolicy, src source) (*conn, error) {
	nd := net.Dialer{Timeout: d.connectTimeout, LocalAddr: src.localAddr()} // ip_pool binding
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &Error{Status: "4.4.1", Host: h.name, Msg: oneLine(err.Error()), Err: err}
	}
	c := &conn{host: h.name, raw: raw, d: d, src: src}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	err = c.start(ctx, h, policy)
	if !stop() && err == nil {
		err = classify(ctx.Err(), h.name)
	}
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	return c, nil
}

// start reads the greeting, says EHLO and negotiates STARTTLS per policy.
func (c *conn) start(ctx context.Context, h hop, policy TLSPolicy) error {
	c.client = c.d.newClient(c.raw)
	if err := c.client.Hello(c.helo()); err != nil {
		return classify(fmt.Errorf("greeting or EHLO: %w", err), h.name)
	}
	if policy == TLSNone {
		return nil
	}
	if ok, _ := c.client.Extension("STARTTLS"); !ok {
		if policy == TLSRequired || policy == TLSVerify || policy == TLSDANE {
			e := temporary("4.7.4", ErrTLSUnavailable, "TLS is required, but was not offered by host")
			e.Host = h.name
			return e
		}
		return nil
	}
	return c.startTLS(ctx, h, policy)
}

// startTLS upgrades the session (RFC 3207). go-smtp v0.25's Client has no exported STARTTLS on
// an existing session (only NewClientStartTLS, which says "EHLO localhost"), so the command
// is sent on the raw connection and a new Client runs over the TLS stream, fed a synthetic
// greeting. Remove when go-smtp exports Client.StartTLS.
func (c *conn) startTLS(ctx context.Context, h hop, policy TLSPolicy) error {
	fail := func(status string, cause error) error {
		if policy == TLSOpportunistic {
			return fmt.Errorf("%w: %w", errTLSFallback, cause)
		}
		e := temporary(status, fmt.Errorf("%w: %w", ErrTLSFailed, cause), "TLS is required: %v", cause)
		switch policy {
		case TLSVerify:
			e.Msg = fmt.Sprintf("TLS with a valid certificate for %s is required: %v", h.name, cause)
		case TLSDANE:
			e.Msg = fmt.Sprintf("DANE: TLS matching the TLSA records of %s is required: %v", h.name, cause)
		}
		e.Host = h.name
		return e
	}
	code, msg, err := c.rawCommand("STARTTLS")
	switch {
	case err != nil:
		return fail("4.7.5", err)
	case code != 220 && policy == TLSOpportunistic:
		return nil // refused: carry on in plain text on the same session
	case code != 220:
		return fail("4.7.4", fmt.Errorf("STARTTLS answered %d %s", code, msg))
	}
	tc := tls.Client(c.raw, c.d.tlsFor(h, policy, tlsaFrom(ctx, h.name)))
	hctx, cancel := context.WithTimeout(ctx, c.d.commandTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fail("4.7.5", err)
	}
	c.certs = tc.ConnectionState().PeerCertificates
	c.client = c.d.newClient(&greetedConn{Conn: tc, pending: []byte("220 " + h.name + " TLS\r\n")})
	if err := c.client.Hello(c.helo()); err != nil {
		return classify(fmt.Errorf("EHLO after STARTTLS: %w", err), h.name)
	}
	c.tls = true
	return nil
}

// rawCommand sends one command on the raw connection and reads its reply. It is only used
// right after EHLO, when go-smtp's buffered reader holds nothing.
func (c *conn) rawCommand(cmd string) (int, string, error) {
	_ = c.raw.SetDeadline(time.Now().Add(c.d.commandTimeout))
	defer func() { _ = c.raw.SetDeadline(time.Time{}) }()
	if _, err := c.raw.Write([]byte(cmd + "\r\n")); err != nil {
		return 0, "", err
	}
	code, msg, err := textproto.NewReader(bufio.NewReaderSize(c.raw, 512)).ReadResponse(0)
	var pe *textproto.Error
	if errors.As(err, &pe) {
		err = nil
	}
	return code, msg, err
}

func (d *dialer) newClient(nc net.Conn) *smtp.Client {
	cl := smtp.NewClient(nc)
	cl.CommandTimeout = d.commandTimeout
	cl.SubmissionTimeout = d.dataTimeout
	return cl
}

func (d *dialer) tlsFor(h hop, policy TLSPolicy, recs []*dns.TLSA) *tls.Config {
	host := h.name
	cfg := d.tlsConfig.Clone()
	if cfg.ServerName == "" && net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	if policy == TLSVerify { // RFC 8461 §4.2: a PKIX-valid certificate for the MX name
		cfg.InsecureSkipVerify = false
		cfg.ServerName = host
		cfg.RootCAs = d.verifyRoots
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	}
	if policy == TLSDANE { // RFC 7672 §3: the TLSA records decide, with SNI
		cfg.InsecureSkipVerify = true //nolint:gosec // verified by VerifyConnection against TLSA
		cfg.ServerName = host
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyDANE(cs.PeerCertificates, host, recs)
		}
	}
	return cfg
}

// helo is the session's EHLO name: its IP pool's, else the node's.
func (c *conn) helo() string {
	if c.src.helo != "" {
		return c.src.helo
	}
	return c.d.hostname
}

// quit ends the session politely, bounded by a short deadline, and closes it.
func (c *conn) quit() {
	_ = c.raw.SetDeadline(time.Now().Add(5 * time.Second))
	if !c.broken {
		c.client.CommandTimeout = 5 * time.Second
		_ = c.client.Quit()
	}
	_ = c.raw.Close()
}

// greetedConn replays a synthetic greeting before the real stream (see startTLS).
type greetedConn struct {
	net.Conn
	pending []byte
}

func (g *greetedConn) Read(p []byte) (int, error) {
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}
