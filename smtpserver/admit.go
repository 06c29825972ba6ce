package smtpserver

import (
	"io"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// admitting wraps a session so that Options.Admit is asked at MAIL FROM and before DATA.
// A session that offers AUTH keeps offering it.
func (s *Server) admitting(c *smtp.Conn, sess smtp.Session) smtp.Session {
	if s.opts.Admit == nil {
		return sess
	}
	a := admitSession{Session: sess, srv: s, conn: c}
	if as, ok := sess.(smtp.AuthSession); ok {
		return authAdmitSession{admitSession: a, auth: as}
	}
	return a
}

// admitSession asks Options.Admit before the session's Mail and Data.
type admitSession struct {
	smtp.Session
	srv  *Server
	conn *smtp.Conn
}

// Mail implements smtp.Session: 452 4.3.1 when Admit refuses.
func (a admitSession) Mail(from string, opts *smtp.MailOptions) error {
	if err := a.admit(); err != nil {
		return err
	}
	return a.Session.Mail(from, opts)
}

// Data implements smtp.Session: when Admit refuses, the message is read and dropped, then
// 452 4.3.1.
func (a admitSession) Data(r io.Reader) error {
	if err := a.admit(); err != nil {
		if derr := a.srv.discardData(a.conn, r); derr != nil {
			if rep := ErrorReply(derr); rep != nil {
				return rep
			}
			return Reply(451, 4, 3, 0, "Temporary local error, try again later")
		}
		return err
	}
	return a.Session.Data(r)
}

// admit asks Options.Admit.
func (a admitSession) admit() error {
	if err := a.srv.opts.Admit(); err != nil {
		a.srv.log.Warn("message refused: not admitted", "remote", a.conn.Conn().RemoteAddr().String(), "err", err)
		return InsufficientStorage()
	}
	return nil
}

// authAdmitSession is an admitSession over a session that offers AUTH.
type authAdmitSession struct {
	admitSession
	auth smtp.AuthSession
}

// AuthMechanisms implements smtp.AuthSession.
func (a authAdmitSession) AuthMechanisms() []string { return a.auth.AuthMechanisms() }

// Auth implements smtp.AuthSession.
func (a authAdmitSession) Auth(mech string) (sasl.Server, error) { return a.auth.Auth(mech) }
