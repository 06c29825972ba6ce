package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"
	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/budget"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/throttle"
)

// Defaults of Options.
const (
	DefaultMaxConnsPerUser = 20
	DefaultMaxLiteralBytes = 50 << 20 // 50 MiB: the largest APPEND
)

// MaxLineBytes is the longest command line (literals excluded) a client may
// send. go-imap v2 beta.8 fixes it (RFC 2683 §3.2.1.5 asks for at least 8 KiB);
// literals inside commands other than APPEND are capped at 4 KiB by go-imap.
const MaxLineBytes = 50 * 1024

// ErrNoTLS is returned by ServeIMAPS when Options.TLSConfig is nil.
var ErrNoTLS = errors.New("imapserver: no TLS configuration")

// Options configure a Server.
type Options struct {
	// Store holds the mailboxes; required.
	Store mailbox.Store
	// TLSConfig serves STARTTLS on ServeIMAP and implicit TLS on ServeIMAPS.
	// Without it no client can log in (LOGINDISABLED): authentication
	// requires TLS.
	TLSConfig *tls.Config
	// Logger receives connection and error logs; nil discards.
	Logger *slog.Logger
	// MaxConnsPerUser caps the authenticated connections of one mailbox;
	// 0 means DefaultMaxConnsPerUser.
	MaxConnsPerUser int
	// MaxLiteralBytes caps the message size of APPEND (advertised as
	// APPENDLIMIT); 0 means DefaultMaxLiteralBytes.
	MaxLiteralBytes int64
	// Budget is the memory budget APPEND literals reserve before they are
	// read (twice their size: the literal and the store's copy); nil is
	// unlimited. Without budget in time, APPEND is NO [UNAVAILABLE].
	Budget *budget.Bytes
	// Registerer receives the server's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Admit, when set, is asked before every APPEND; an error refuses it with
	// NO [UNAVAILABLE] (the node's free-space floor: diskfloor.Guard.Admit).
	Admit func() error
	// Throttle refuses logins from clients and to accounts with too many
	// failures (NO [UNAVAILABLE]) before the password is checked; nil
	// throttles nothing. One Limiter is shared with the other doors.
	Throttle *throttle.Limiter
	// MailboxQuota is the most bytes a mailbox's emails may take (mailbox.Usage.Bytes);
	// 0: none. With it QUOTA and QUOTA=RES-STORAGE are advertised (GETQUOTA and
	// GETQUOTAROOT report it, quota.go) and an APPEND or COPY that would go over it is
	// NO [OVERQUOTA].
	MailboxQuota int64
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxConnsPerUser <= 0 {
		o.MaxConnsPerUser = DefaultMaxConnsPerUser
	}
	if o.MaxLiteralBytes <= 0 || o.MaxLiteralBytes > 1<<32-1 {
		o.MaxLiteralBytes = DefaultMaxLiteralBytes
	}
	return o
}

// Server serves IMAP on any number of listeners until Shutdown.
type Server struct {
	opts    Options
	log     *slog.Logger
	imap    *goimap.Server
	metrics *metrics
	base    context.Context // parent of every session's context
	stop    context.CancelFunc
	nextID  atomic.Uint64

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perUser   map[string]int
	idle      chan struct{} // closed when sessions drops to 0 while closing
}

// capabilities are what the server advertises beyond what go-imap adds by
// itself (STARTTLS, AUTH=PLAIN/LOGINDISABLED, IDLE, UNSELECT, ENABLE, SASL-IR,
// LITERAL-, APPENDLIMIT=n). LITERAL+: the fork reads and discards a refused
// non-synchronising literal (an APPEND over the limit) before answering NO
// [TOOBIG], so its bytes are never read as commands.
func capabilities(quota bool) imap.CapSet {
	caps := imap.CapSet{
		imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {},
		imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapESearch: {},
		imap.CapSearchRes: {}, imap.CapListExtended: {}, imap.CapListStatus: {},
		imap.CapMove: {}, imap.CapStatusSize: {}, imap.CapChildren: {},
		imap.CapSpecialUse: {}, imap.CapCreateSpecialUse: {}, imap.CapID: {}, imap.CapLiteralPlus: {}, imap.CapMultiAppend: {}, imap.CapBinary: {},
		imap.CapSort: {}, imap.CapSortDisplay: {}, imap.CapESort: {},
		goimap.CapThreadOrderedSubject: {}, goimap.CapThreadReferences: {},
		goimap.CapCompressDeflate: {},
		goimap.CapContextSearch:   {}, goimap.CapContextSort: {}, // RFC 5267 §4, context.go
		imap.CapCondStore: {}, imap.CapQResync: {},
	}
	if quota { // QUOTA=RES-MESSAGE stays off: there is no message limit to report
		caps[imap.CapQuota], caps[goimap.CapQuotaResStorage] = struct{}{}, struct{}{}
	}
	return caps
}

// New returns a server on opts.Store. A metrics registration error is logged
// and the metrics are then not exported.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	base, stop := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, log: opts.Logger, base: base, stop: stop,
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		perUser:   make(map[string]int),
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		s.log.Warn("imap: metrics not registered", "err", err)
		m, _ = newMetrics(nil)
	}
	s.metrics = m
	s.imap = goimap.New(&goimap.Options{
		NewSession: s.newSession,
		Caps:       capabilities(opts.MailboxQuota > 0),
		Logger:     slogAdapter{s.log},
		TLSConfig:  opts.TLSConfig,
		ID:         &imap.IDData{Name: "multimail"},
	})
	return s
}

// ServeIMAP serves plain IMAP with STARTTLS on l until Shutdown, then
// returns nil.
func (s *Server) ServeIMAP(l net.Listener) error {
	return s.serve(l)
}

// ServeIMAPS serves IMAP over implicit TLS on l until Shutdown, then
// returns nil.
func (s *Server) ServeIMAPS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return ErrNoTLS
	}
	return s.serve(tls.NewListener(l, s.opts.TLSConfig))
}

func (s *Server) serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	err := s.imap.Serve(l)
	s.mu.Lock()
	closing := s.closing
	delete(s.listeners, l)
	s.mu.Unlock()
	if closing {
		return nil
	}
	if err != nil {
		return fmt.Errorf("imap serve %s: %w", l.Addr(), err)
	}
	return nil
}

// Shutdown closes the listeners, says BYE to every connection, and waits
// for the sessions to end until ctx is done; then it closes whatever is
// left and returns ctx's error. It may be called more than once (one
// Server usually backs both the imap and the imaps listener).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	var open []*session
	for sess := range s.sessions {
		open = append(open, sess)
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
		if len(s.sessions) == 0 {
			close(s.idle)
		}
	}
	idle := s.idle
	s.mu.Unlock()
	var byes sync.WaitGroup
	for _, sess := range open {
		byes.Go(func() { sess.conn.Bye("Server shutting down") }) // errors are moot
	}
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.stop()
	s.imap.Close() // closes any connection left; an error only says "already closed"
	byes.Wait()    // a Bye stuck writing fails once its connection is closed
	return err
}

// register adds a new connection's session; it fails while shutting down.
func (s *Server) register(sess *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	s.sessions[sess] = struct{}{}
	s.metrics.conns.Inc()
	return nil
}

// unregister removes a closed session.
func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess]; !ok {
		return
	}
	delete(s.sessions, sess)
	s.metrics.conns.Dec()
	if s.closing && len(s.sessions) == 0 && s.idle != nil {
		select {
		case <-s.idle:
		default:
			close(s.idle)
		}
	}
}

// acquireUser counts an authenticated connection of addr, refusing one over
// MaxConnsPerUser.
func (s *Server) acquireUser(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[addr] >= s.opts.MaxConnsPerUser {
		return errTooManyConns
	}
	s.perUser[addr]++
	return nil
}

// releaseUser undoes acquireUser.
func (s *Server) releaseUser(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[addr]--; s.perUser[addr] <= 0 {
		delete(s.perUser, addr)
	}
}

// slogAdapter lets go-imap log through slog.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Warn("imap: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}
