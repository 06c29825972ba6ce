package mta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-smtp"
)

// Sentinel causes, found with errors.Is in an *Error.
var (
	// ErrNullMX: the recipient domain publishes a null MX and accepts no mail (RFC 7505).
	ErrNullMX = errors.New("mta: recipient domain accepts no mail (null MX)")
	// ErrNoSuchDomain: the recipient domain does not exist (NXDOMAIN, no MX and no address).
	ErrNoSuchDomain = errors.New("mta: recipient domain does not exist")
	// ErrTLSUnavailable: the policy requires TLS and the host did not offer STARTTLS.
	ErrTLSUnavailable = errors.New("mta: TLS required but STARTTLS not offered")
	// ErrTLSFailed: the STARTTLS command or the TLS handshake failed.
	ErrTLSFailed = errors.New("mta: STARTTLS failed")
	// ErrNoHost: no host of the route could be reached or resolved.
	ErrNoHost = errors.New("mta: no usable host")
	// ErrMessageTooBig: the message is larger than the host's advertised SIZE (RFC 1870).
	ErrMessageTooBig = errors.New("mta: message exceeds the host's size limit")
	// ErrSMTPUTF8: an address needs SMTPUTF8 and the host does not offer it (RFC 6531 §3.4).
	ErrSMTPUTF8 = errors.New("mta: host does not support SMTPUTF8")
)

// Error is a classified delivery failure, for one recipient or a whole attempt. Whether it is
// temporary is a property of the error: Temporary reports it; anything this package could not
// classify is temporary, so a bug defers mail instead of bouncing it.
type Error struct {
	Code   int    // the remote SMTP reply code; 0 when no remote answered
	Status string // RFC 3463 enhanced status code, always set: "5.1.1", "4.4.1"
	Host   string // the host that answered or failed; "" when none was chosen
	Msg    string // one line: the remote reply text, or our reason
	Perm   bool   // permanent: the recipient bounces
	Err    error  // the cause (a sentinel above, a dial or TLS error, *smtp.SMTPError)
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Host != "" {
		fmt.Fprintf(&b, "%s: ", e.Host)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, "%d ", e.Code)
	}
	fmt.Fprintf(&b, "%s %s", e.Status, e.Msg)
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether a later attempt may succeed.
func (e *Error) Temporary() bool { return !e.Perm }

// classify turns any error into an *Error; host names the peer involved.
func classify(err error, host string) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Host == "" {
			e.Host = host
		}
		return e
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fromSMTP(se, host)
	}
	e = &Error{Host: host, Status: "4.4.2", Msg: oneLine(err.Error()), Err: err}
	var dnsErr *net.DNSError
	var tlsErr *tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr):
		e.Status = "4.4.3" // directory server failure
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Status = "4.4.7"
	case errors.As(err, &tlsErr):
		e.Status = "4.7.5"
	}
	return e
}

// fromSMTP classifies a remote reply: 5xx permanent, everything else temporary.
func fromSMTP(se *smtp.SMTPError, host string) *Error {
	class := se.Code / 100
	status := "4.0.0"
	if class == 5 {
		status = "5.0.0"
	}
	if ec := se.EnhancedCode; ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode && ec[0] == class {
		status = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
	}
	if class != 5 && class != 4 {
		status = "4.5.0" // an unexpected reply is a protocol problem we may retry
	}
	return &Error{Code: se.Code, Status: status, Host: host, Msg: oneLine(se.Message),
		Perm: class == 5, Err: se}
}

// temporary builds a temporary *Error around a sentinel.
func temporary(status string, cause error, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// permanent builds a permanent *Error around a sentinel.
func permanent(status string, cause error, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...), Err: cause, Perm: true}
}

// isConnectionLevel reports whether err means the session is unusable: not an SMTP reply, or
// a 421 (the server is closing the channel, RFC 5321 §3.8).
func isConnectionLevel(err error) bool {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return true
	}
	return se.Code == 421
}

// oneLine joins a possibly multi-line reply into one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
