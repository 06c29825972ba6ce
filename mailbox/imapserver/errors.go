package imapserver

import (
	"errors"

	"github.com/emersion/go-imap/v2"

	"multimail.dev/multimail/budget"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/throttle"
)

// Errors of this package that become IMAP responses through toIMAP.
var (
	errTooManyConns = errors.New("imapserver: too many connections for this mailbox")
	errReadOnly     = errors.New("imapserver: mailbox selected read-only")
	errSameFolder   = errors.New("imapserver: source and destination are the same folder")
	errUnavailable  = errors.New("imapserver: the server accepts no new messages for now")
)

// codeUseAttr is RFC 6154 §3's response code for a CREATE refused because of its special
// use (go-imap has no constant for it).
const codeUseAttr imap.ResponseCode = "USEATTR"

// errorMapping is one row of the table turning errors into IMAP responses.
type errorMapping struct {
	err  error
	dest bool // row applies only to the destination of APPEND, COPY, MOVE
	resp imap.Error
}

// errorTable is the one place where errors become IMAP status responses;
// the first matching row wins. Texts stay generic: details go to the log.
func errorTable() []errorMapping {
	return []errorMapping{
		// RFC 9051 §6.3.12, §6.4.7: a missing destination gets TRYCREATE.
		{mailbox.ErrNoSuchFolder, true, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}},
		{mailbox.ErrNoSuchFolder, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}},
		{mailbox.ErrFolderExists, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}},
		{mailbox.ErrInvalidFolder, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name or operation"}},
		{mailbox.ErrBadCredentials, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Authentication failed"}},
		{mailbox.ErrInvalidKeyword, false, imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Invalid flag or keyword"}},
		{mailbox.ErrNotFound, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such message or mailbox"}},
		{mailbox.ErrCorrupt, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCorruption, Text: "Stored data is damaged"}},
		// The failed-login throttle refused the attempt before checking the password.
		{throttle.ErrThrottled, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Too many failed logins, try again later"}},
		{errTooManyConns, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Too many connections for this mailbox"}},
		{errReadOnly, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is selected read-only"}},
		{errSameFolder, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Source and destination are the same mailbox"}},
		// RFC 5530 §3: UNAVAILABLE, a temporary failure of a subsystem (here: disk space).
		{errUnavailable, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Server is low on disk space, try again later"}},
		// RFC 9208 §4.3: OVERQUOTA, the mailbox would go over its quota ([limits] mailbox_quota).
		{mailbox.ErrOverQuota, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Quota exceeded"}},
		{budget.ErrExhausted, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Server busy, try again later"}},
		// RFC 6154 §3: a special use that is unknown, virtual or already held by another folder.
		{mailbox.ErrSpecialUse, false, imap.Error{Type: imap.StatusResponseTypeNo, Code: codeUseAttr, Text: "Special-use attribute cannot be assigned"}},
	}
}

// toIMAP maps err to the IMAP response go-imap will send: an *imap.Error
// passes through, a known error becomes its row of errorTable, anything
// else is returned as is (go-imap logs it and answers NO [SERVERBUG]).
func toIMAP(err error) error { return mapError(err, false) }

// toIMAPDest is toIMAP for errors about the destination of APPEND, COPY
// and MOVE.
func toIMAPDest(err error) error { return mapError(err, true) }

func mapError(err error, dest bool) error {
	if err == nil {
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie
	}
	for _, m := range errorTable() {
		if (!m.dest || dest) && errors.Is(err, m.err) {
			resp := m.resp
			return &resp
		}
	}
	return err
}
