package mtatest

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// session is one SMTP transaction state of the MX.
type session struct {
	mx   *MX
	conn *smtp.Conn
	from string
	to   []string
	data []string // local parts that decide the end-of-DATA reply
	rtls bool     // MAIL FROM carried REQUIRETLS
}

var _ smtp.Session = (*session)(nil)

func (s *session) Reset() { s.from, s.to, s.data, s.rtls = "", nil, nil, false }

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.Reset()
	if err := s.mx.throttled(); err != nil {
		return err
	}
	s.from = from
	s.rtls = opts != nil && opts.RequireTLS
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	local := localPart(to)
	switch {
	case strings.HasPrefix(local, "tempfail-"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message: "Temporary failure, try again later"}
	case strings.HasPrefix(local, "tempfail1-") && s.mx.firstTry(to):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message: "Greylisted, try again later"}
	case strings.HasPrefix(local, "reject-"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "No such user here"}
	case strings.HasPrefix(local, "policy-"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "Refused by local policy"}
	}
	s.to = append(s.to, to)
	s.data = append(s.data, local)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, size, err := s.read(r)
	if err != nil {
		return err
	}
	s.mx.sleep(s.mx.opts.Delay)
	if err := s.dataReply(); err != nil {
		return err
	}
	s.mx.record(s.message(raw, size))
	return nil
}

// read consumes the message, keeping it unless the MX discards data.
func (s *session) read(r io.Reader) ([]byte, int, error) {
	if s.mx.opts.DiscardData {
		n, err := io.Copy(io.Discard, r)
		return nil, int(n), err
	}
	raw, err := io.ReadAll(r)
	return raw, len(raw), err
}

// dataReply applies the end-of-DATA rules of the accepted recipients.
func (s *session) dataReply() error {
	slow := false
	for _, local := range s.data {
		switch {
		case strings.HasPrefix(local, "datafail-"):
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
				Message: "Message content rejected"}
		case strings.HasPrefix(local, "datatemp-"):
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1},
				Message: "Insufficient system storage, try again later"}
		case strings.HasPrefix(local, "slow-"):
			slow = true
		}
	}
	if slow {
		s.mx.sleep(s.mx.opts.SlowDelay)
	}
	return nil
}

func (s *session) message(raw []byte, size int) Message {
	nc := underlying(s.conn.Conn())
	_, isTLS := s.conn.TLSConnectionState()
	msg := Message{Helo: s.conn.Hostname(), From: s.from, To: append([]string(nil), s.to...),
		Data: raw, Size: size, TLS: isTLS, RequireTLS: s.rtls, Received: time.Now()}
	if nc != nil {
		msg.Conn, msg.Seq = nc.id, int(nc.seq.Add(1))
	}
	if a, ok := s.conn.Conn().RemoteAddr().(*net.TCPAddr); ok {
		msg.RemoteIP = a.IP.String()
	}
	return msg
}

// underlying finds the numberedConn below a possible TLS layer.
func underlying(c net.Conn) *numberedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	nc, _ := c.(*numberedConn)
	return nc
}

func localPart(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		addr = addr[:i]
	}
	return strings.ToLower(addr)
}
