package inbound

import (
	"errors"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/smtpserver"
)

// reply maps an error of this package to the SMTP reply go-smtp writes. It is the only place
// errors become SMTP codes (docs/api.md, SMTP). go-smtp type-asserts *smtp.SMTPError instead of
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
	case smtpserver.ErrorReply(err) != nil: // bare line ending, line too long, too large
		return smtpserver.ErrorReply(err)
	case errors.Is(err, ErrRelayDenied):
		return smtpserver.Reply(554, 5, 7, 1, "Relay access denied")
	case errors.Is(err, ErrUnknownUser):
		return smtpserver.Reply(550, 5, 1, 1, "No such user here")
	case errors.Is(err, ErrBadRecipient):
		return smtpserver.Reply(501, 5, 1, 3, "Bad recipient address syntax")
	case errors.Is(err, ErrTooManyBadRecipients):
		return smtpserver.Reply(421, 4, 7, 0, "Too many refused recipients, closing connection")
	case errors.Is(err, mailbox.ErrOverQuota):
		return smtpserver.Reply(452, 4, 2, 2, "Mailbox full, try again later")
	case errors.Is(err, ErrDMARCReject):
		return smtpserver.Reply(550, 5, 7, 1, "Message rejected per the sender domain's DMARC policy")
	}
	return smtpserver.Reply(451, 4, 3, 0, "Temporary local error, try again later")
}
