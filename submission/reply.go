package submission

import (
	"errors"
	"strings"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/smtpserver"
	"multimail.dev/multimail/throttle"
)

// reply maps an error of this package to the SMTP reply go-smtp writes. It is the only place
// errors become SMTP codes (docs/api.md, SMTP). go-smtp type-asserts *smtp.SMTPError instead of
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
	case smtpserver.ErrorReply(err) != nil: // bare line ending, line too long, too large
		return smtpserver.ErrorReply(err)
	case errors.Is(err, ErrTooManyRecipients):
		return smtpserver.Reply(452, 4, 5, 3, "Too many recipients")
	case errors.As(err, &fe) && errors.Is(err, ErrSuppressed):
		return smtpserver.Reply(550, 5, 7, 1, "Recipient suppressed: "+replyText(fe.Msg))
	case errors.As(err, &fe):
		return fieldReply(fe)
	case errors.Is(err, ErrAuthRequired):
		return smtpserver.Reply(530, 5, 7, 0, "Authentication required")
	case errors.Is(err, mailbox.ErrBadCredentials):
		return smtpserver.Reply(535, 5, 7, 8, "Authentication credentials invalid")
	case errors.Is(err, throttle.ErrThrottled):
		return smtpserver.Reply(421, 4, 7, 0, "Too many failed logins from your address, try again later")
	case errors.Is(err, ErrTooManyAuthFailures):
		return smtpserver.Reply(421, 4, 7, 0, "Too many authentication failures, closing connection")
	case errors.Is(err, ErrSenderNotAllowed), errors.Is(err, ErrUnknownMailbox):
		return smtpserver.Reply(553, 5, 7, 1, "Sender address not allowed for this user")
	case errors.Is(err, ErrForbidden):
		return smtpserver.Reply(550, 5, 7, 1, "Sending is not permitted for this mailbox")
	case errors.Is(err, ErrRejected):
		return smtpserver.Reply(550, 5, 7, 1, "Message rejected by an approval rule")
	case errors.Is(err, ErrNUL):
		return smtpserver.Reply(550, 5, 6, 0, "NUL in message data refused")
	case errors.Is(err, ErrTooLarge):
		return smtp.ErrDataTooLarge
	case errors.Is(err, ErrMalformedMessage):
		return smtpserver.Reply(554, 5, 6, 0, "Malformed message header")
	case errors.Is(err, ErrTooManyCommands):
		return smtpserver.Reply(421, 4, 7, 0, "Too many commands, closing connection")
	}
	return smtpserver.Reply(451, 4, 3, 0, "Temporary local error, try again later")
}

// replyText keeps printable ASCII of s (at most 400 bytes), so a stored detail (a remote's
// reply, an operator's note) never puts a line break or a control byte into our reply.
func replyText(s string) string {
	b := make([]byte, 0, min(len(s), 400))
	for i := 0; i < len(s) && len(b) < 400; i++ {
		if c := s[i]; c >= ' ' && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}

// fieldReply maps a bad field: envelope addresses get their RFC 3463 address codes.
func fieldReply(fe *FieldError) *smtp.SMTPError {
	switch {
	case fe.Field == "from":
		return smtpserver.Reply(501, 5, 1, 7, "Bad sender address syntax")
	case strings.HasPrefix(fe.Field, "to"):
		return smtpserver.Reply(501, 5, 1, 3, "Bad recipient address syntax")
	}
	return smtpserver.Reply(554, 5, 6, 0, "Malformed message")
}
