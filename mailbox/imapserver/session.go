package imapserver

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/throttle"
)

// session is one IMAP connection. go-imap calls its methods from the
// connection's goroutine, or from one IDLE goroutine while that goroutine
// waits, so they never run concurrently.
type session struct {
	srv    *Server
	store  mailbox.Store
	conn   *goimap.Conn
	ctx    context.Context // ends with the connection (Close) or a hard shutdown
	cancel context.CancelFunc
	log    *slog.Logger
	addr   netip.Addr // the client's, for the login throttle

	user string // mailbox address once logged in
	view *view  // selected folder, nil when none

	// idling is held by Idle. go-imap beta.8's handleIdle returns without
	// waiting for Idle when the connection fails, so Close may run while
	// Idle still does: Close cancels ctx, then waits here.
	idling sync.Mutex

	refsCache map[string]msgRefs // THREAD=REFERENCES: headers read, by email ID (threads.go)
}

var (
	_ goimap.Session            = (*session)(nil)
	_ goimap.SessionIMAP4rev2   = (*session)(nil)
	_ goimap.SessionMove        = (*session)(nil)
	_ goimap.SessionNamespace   = (*session)(nil)
	_ goimap.SessionAppendLimit = (*session)(nil)
	_ goimap.SessionQResync     = (*session)(nil)
)

// newSession is go-imap's NewSession hook.
func (s *Server) newSession(c *goimap.Conn) (goimap.Session, *goimap.GreetingData, error) {
	ctx, cancel := context.WithCancel(s.base)
	sess := &session{
		srv: s, store: s.opts.Store, conn: c, ctx: ctx, cancel: cancel,
		addr: throttle.AddrOf(c.NetConn().RemoteAddr()),
		log:  s.log.With("conn_id", s.nextID.Add(1), "remote", c.NetConn().RemoteAddr().String()),
	}
	if err := s.register(sess); err != nil {
		cancel()
		return nil, nil, err
	}
	return sess, nil, nil
}

// Close implements goimap.Session: the connection is gone.
func (sess *session) Close() error {
	sess.cancel()
	sess.idling.Lock()
	defer sess.idling.Unlock()
	sess.closeView()
	if sess.user != "" {
		sess.srv.releaseUser(sess.user)
	}
	sess.srv.unregister(sess)
	return nil
}

// Login implements goimap.Session for LOGIN and AUTHENTICATE PLAIN; go-imap
// refuses both before TLS. The secret is the mailbox password or an API key
// scoped to the mailbox that holds read and tag (imapScopes). A client or account over the throttle's limits is
// refused (NO [UNAVAILABLE]) before the password is checked.
// imapScopes are what an API key must hold to open an IMAP session: IMAP reads the mailbox
// and changes its flags and keywords, so a key that cannot read and tag cannot log in (an
// approve-only operator key never opens the agent's mailbox).
var imapScopes = []string{mailbox.ScopeRead, mailbox.ScopeTag}

func (sess *session) Login(username, password string) error {
	th := sess.srv.opts.Throttle
	if err := th.Check(throttle.IMAP, sess.addr, username); err != nil {
		sess.srv.metrics.logins.WithLabelValues("throttled").Inc()
		sess.log.Info("imap: login throttled", "mailbox", username, "err", err)
		return toIMAP(err)
	}
	m, err := sess.store.Authenticate(sess.ctx, username, password, imapScopes)
	if err != nil {
		sess.srv.metrics.logins.WithLabelValues("failed").Inc()
		sess.log.Info("imap: login failed", "mailbox", username, "err", err)
		if errors.Is(err, mailbox.ErrBadCredentials) {
			th.Failure(throttle.IMAP, sess.addr, username)
			return toIMAP(err)
		}
		return err
	}
	th.Success(throttle.IMAP, sess.addr, username)
	if err := sess.srv.acquireUser(m.Address); err != nil {
		sess.srv.metrics.logins.WithLabelValues("limit").Inc()
		sess.log.Warn("imap: connection limit", "mailbox", m.Address)
		return toIMAP(err)
	}
	sess.srv.metrics.logins.WithLabelValues("ok").Inc()
	sess.user = m.Address
	sess.log = sess.log.With("mailbox", m.Address)
	sess.log.Debug("imap: logged in")
	return nil
}

// Namespace implements goimap.SessionNamespace: one personal namespace.
func (sess *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: mailbox.FolderSeparator}},
	}, nil
}

// AppendLimit implements goimap.SessionAppendLimit (RFC 7889).
func (sess *session) AppendLimit() uint32 {
	return uint32(sess.srv.opts.MaxLiteralBytes)
}

// count records one store-backed command.
func (sess *session) count(cmd string) {
	sess.srv.metrics.commands.WithLabelValues(cmd).Inc()
}
