package inbound

import (
	"errors"

	"multimail.dev/multimail/smtpserver"
)

// Sentinel errors of the inbound session. reply.go turns them into SMTP replies; callers
// wrap them with context (%w) and the detail goes to the log.
var (
	// ErrRelayDenied: the recipient's domain is not one of ours; we never relay.
	ErrRelayDenied = errors.New("inbound: relay denied")
	// ErrUnknownUser: the recipient's domain is ours but it has no such mailbox.
	ErrUnknownUser = errors.New("inbound: no such mailbox")
	// ErrBadRecipient: the RCPT TO address is not local@domain.
	ErrBadRecipient = errors.New("inbound: malformed recipient address")
	// ErrBareLineEnding: a CR or LF that is not part of CRLF in DATA (SMTP smuggling).
	ErrBareLineEnding = smtpserver.ErrBareLineEnding
	// ErrTooLarge: the message exceeds Options.MaxMessageBytes.
	ErrTooLarge = smtpserver.ErrTooLarge
	// ErrDMARCReject: DMARC failed and the From domain publishes p=reject.
	ErrDMARCReject = errors.New("inbound: rejected by the sender domain's DMARC policy")
	// ErrTooManyBadRecipients: the session refused too many recipients (address harvesting);
	// the connection is closed.
	ErrTooManyBadRecipients = errors.New("inbound: too many refused recipients")
)
