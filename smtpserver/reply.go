package smtpserver

import (
	"errors"

	"github.com/emersion/go-smtp"
)

// Errors of ReadData and the admission check; ErrorReply maps them.
var (
	// ErrBareLineEnding: a CR or LF that is not part of CRLF in a message (SMTP smuggling).
	ErrBareLineEnding = errors.New("smtpserver: bare CR or LF in message data")
	// ErrTooLarge: the message exceeds MaxMessageBytes.
	ErrTooLarge = errors.New("smtpserver: message too large")
)

// Reply builds an SMTP reply: code, enhanced code class.subject.detail (RFC 3463), text.
// go-smtp type-asserts *smtp.SMTPError instead of using errors.As, so a session returns it as
// is, never wrapped.
func Reply(code, class, subject, detail int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: msg}
}

// ErrorReply is the reply to an error of this package, or of go-smtp's reading, that every
// listener answers alike; nil for any other error (the listener's own reply mapping decides).
func ErrorReply(err error) *smtp.SMTPError {
	switch {
	case errors.Is(err, ErrBareLineEnding):
		return Reply(550, 5, 5, 2, "Bare CR or LF in message data refused (RFC 5321 section 2.3.8)")
	case errors.Is(err, smtp.ErrTooLongLine):
		return Reply(500, 5, 5, 2, "Line too long (RFC 5321 section 4.5.3.1.6)")
	case errors.Is(err, ErrTooLarge):
		return smtp.ErrDataTooLarge
	}
	return nil
}

// InsufficientStorage is the reply when Options.Admit refuses (RFC 3463 4.3.1).
func InsufficientStorage() *smtp.SMTPError {
	return Reply(452, 4, 3, 1, "Insufficient system storage")
}
