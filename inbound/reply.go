package inbound

import (
	"errors"

	"github.com/emersion/go-smtp"
)

// reply maps an error of this package to the SMTP reply go-smtp writes. It is the only place
// errors become SMTP codes (CONTRACT.md §3). go-smtp type-asserts *smtp.SMTPError instead of
// using errors.As, so callers return the result as is, never wrapped. The text is generic; the
// detail belongs in the log. Anything unknown is temporary (451): a bug of ours defers mail
// instead of bouncing it.
func reply(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, ErrRelayDenied):
		return smtpErr(554, 5, 7, 1, "Relay access denied")
	case errors.Is(err, ErrUnknownUser):
		return smtpErr(550, 5, 1, 1, "No such user here")
	case errors.Is(err, ErrBadRecipient):
		return smtpErr(501, 5, 1, 3, "Bad recipient address syntax")
	case errors.Is(err, ErrTooManyBadRecipients):
		return smtpErr(421, 4, 7, 0, "Too many refused recipients, closing connection")
	case errors.Is(err, ErrBareLineEnding):
		return smtpErr(550, 5, 5, 2, "Bare CR or LF in message data refused (RFC 5321 section 2.3.8)")
	case errors.Is(err, smtp.ErrTooLongLine):
		return smtpErr(500, 5, 5, 2, "Line too long (RFC 5321 section 4.5.3.1.6)")
	case errors.Is(err, ErrTooLarge):
		return smtp.ErrDataTooLarge
	case errors.Is(err, ErrDMARCReject):
		return smtpErr(550, 5, 7, 1, "Message rejected per the sender domain's DMARC policy")
	}
	return smtpErr(451, 4, 3, 0, "Temporary local error, try again later")
}

// smtpErr builds a reply.
func smtpErr(code, class, subject, detail int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: msg}
}
