package submission

import (
	"errors"
	"strings"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mailbox"
)

// reply maps an error of this package to the SMTP reply go-smtp writes. It is the only place
// errors become SMTP codes (CONTRACT.md §3). go-smtp type-asserts *smtp.SMTPError instead of
// using errors.As, so callers return the result as is, never wrapped. The text is generic; the
// detail belongs in the log. Anything unknown is temporary (451): a bug of ours defers mail.
func reply(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	var fe *FieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, ErrTooManyRecipients):
		return smtpErr(452, 4, 5, 3, "Too many recipients")
	case errors.As(err, &fe):
		return fieldReply(fe)
	case errors.Is(err, ErrAuthRequired):
		return smtpErr(530, 5, 7, 0, "Authentication required")
	case errors.Is(err, mailbox.ErrBadCredentials):
		return smtpErr(535, 5, 7, 8, "Authentication credentials invalid")
	case errors.Is(err, ErrTooManyAuthFailures):
		return smtpErr(421, 4, 7, 0, "Too many authentication failures, closing connection")
	case errors.Is(err, ErrSenderNotAllowed), errors.Is(err, ErrUnknownMailbox):
		return smtpErr(553, 5, 7, 1, "Sender address not allowed for this user")
	case errors.Is(err, ErrForbidden):
		return smtpErr(550, 5, 7, 1, "Sending is not permitted for this mailbox")
	case errors.Is(err, ErrRejected):
		return smtpErr(550, 5, 7, 1, "Message rejected by an approval rule")
	case errors.Is(err, ErrBareLineEnding):
		return smtpErr(550, 5, 5, 2, "Bare CR or LF in message data refused (RFC 5321 section 2.3.8)")
	case errors.Is(err, ErrNUL):
		return smtpErr(550, 5, 6, 0, "NUL in message data refused")
	case errors.Is(err, smtp.ErrTooLongLine):
		return smtpErr(500, 5, 5, 2, "Line too long (RFC 5321 section 4.5.3.1.6)")
	case errors.Is(err, ErrTooLarge):
		return smtp.ErrDataTooLarge
	case errors.Is(err, ErrMalformedMessage):
		return smtpErr(554, 5, 6, 0, "Malformed message header")
	case errors.Is(err, ErrTooManyCommands):
		return smtpErr(421, 4, 7, 0, "Too many commands, closing connection")
	}
	return smtpErr(451, 4, 3, 0, "Temporary local error, try again later")
}

// fieldReply maps a bad field: envelope addresses get their RFC 3463 address codes.
func fieldReply(fe *FieldError) *smtp.SMTPError {
	switch {
	case fe.Field == "from":
		return smtpErr(501, 5, 1, 7, "Bad sender address syntax")
	case strings.HasPrefix(fe.Field, "to"):
		return smtpErr(501, 5, 1, 3, "Bad recipient address syntax")
	}
	return smtpErr(554, 5, 6, 0, "Malformed message")
}

// smtpErr builds a reply.
func smtpErr(code, class, subject, detail int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: msg}
}
