package submission

import (
	"errors"
	"fmt"

	"multimail.dev/multimail/smtpserver"
)

// FieldError is a bad field of a request: the API answers 400 naming Field. Field uses the
// API's JSON names ("to[1]", "headers.X-Campaign", "attachments[0].filename").
type FieldError struct {
	Field string
	Msg   string
	cause error // a sentinel the error also is, if any
}

// Unwrap returns the sentinel behind the field error, if any (ErrTooManyRecipients).
func (e *FieldError) Unwrap() error { return e.cause }

// Error implements error.
func (e *FieldError) Error() string { return "submission: " + e.Field + ": " + e.Msg }

// fieldErr builds a *FieldError.
func fieldErr(field, format string) *FieldError { return &FieldError{Field: field, Msg: format} }

// Sentinel errors; callers branch on them with errors.Is. All are permanent: retrying the same
// request gives the same answer. Any other error from Send or SubmitRaw (store or queue I/O) is
// temporary.
var (
	// ErrForbidden: the principal may not do this (key not scoped to the mailbox or lacking
	// the scope, or the mailbox's oversight mode is read_only). API: 403.
	ErrForbidden = errors.New("submission: forbidden")
	// ErrSenderNotAllowed: the sender (envelope or From:) is not the authenticated mailbox,
	// or not on a configured domain. SMTP: 553 5.7.1; API: 403.
	ErrSenderNotAllowed = errors.New("submission: sender not allowed")
	// ErrUnknownMailbox: mailbox_id names no mailbox. API: 404 or 422.
	ErrUnknownMailbox = errors.New("submission: unknown mailbox")
	// ErrAuthRequired: an SMTP client neither authenticated nor in trusted_networks.
	ErrAuthRequired = errors.New("submission: authentication required")
	// ErrTooLarge: the message is over the size limit. API: 413.
	ErrTooLarge = errors.New("submission: message too large")
	// ErrBareLineEnding: a bare CR or LF in SMTP DATA (SMTP smuggling).
	ErrBareLineEnding = smtpserver.ErrBareLineEnding
	// ErrNUL: a NUL byte in a message (RFC 5322 §2.3 forbids it; the wire guard of
	// accept refuses it on every path).
	ErrNUL = errors.New("submission: NUL in message data")
	// ErrAttachmentType: an API attachment whose content_type cannot be base64-encoded
	// (multipart/* and message/*, RFC 2045 §6.4); comes as a *FieldError. API: 422.
	ErrAttachmentType = errors.New("submission: attachment type cannot be base64-encoded")
	// ErrSuppressed: a recipient is on the sending domain's suppression list; comes as a
	// *FieldError naming the recipient field (to[i], cc[i], bcc[i]). API: 422 suppressed.
	ErrSuppressed = errors.New("submission: recipient suppressed")
	// ErrMalformedMessage: a raw message whose header cannot be parsed.
	ErrMalformedMessage = errors.New("submission: malformed message")
	// ErrRejected: an approval rule rejected the message; the record exists, it is never sent.
	ErrRejected = errors.New("submission: rejected by approval rule")
	// ErrTooManyRecipients: over the recipient limit; comes as a *FieldError on "to".
	ErrTooManyRecipients = errors.New("submission: too many recipients")
	// ErrTooManyCommands: an SMTP session went over its command budget.
	ErrTooManyCommands = errors.New("submission: too many commands")
	// ErrTooManyAuthFailures: an SMTP session failed AUTH too often.
	ErrTooManyAuthFailures = errors.New("submission: too many authentication failures")
)

// tooMany is the *FieldError of a recipient flood.
func tooMany(n, max int) *FieldError {
	return &FieldError{Field: "to", Msg: fmt.Sprintf("too many recipients (%d, at most %d)", n, max), cause: ErrTooManyRecipients}
}
