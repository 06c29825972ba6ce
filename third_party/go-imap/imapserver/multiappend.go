package imapserver

// multimail fork: MULTIAPPEND (RFC 3502). With Options.Caps holding
// MULTIAPPEND and a session implementing SessionMultiAppend, every APPEND,
// of one message or several, goes through handleMultiAppend: the messages are
// handed to an Appender one literal at a time and stored by its Commit, all or
// nothing; the answer carries APPENDUID with a UID set (RFC 4315).

import (
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// SessionMultiAppend is an IMAP session which supports MULTIAPPEND.
type SessionMultiAppend interface {
	Session

	// BeginAppend starts an APPEND of one or more messages to mailbox. An
	// error refuses the whole command before any literal is accepted.
	BeginAppend(mailbox string) (Appender, error)
}

// Appender collects the messages of one APPEND command.
type Appender interface {
	// Add reads one message. An error refuses the whole command.
	Add(r imap.LiteralReader, options *imap.AppendOptions) error
	// Commit stores every message added, all or none.
	Commit() (*MultiAppendData, error)
	// Abort drops what was added; the command failed.
	Abort()
}

// MultiAppendData is the APPENDUID of a (MULTI)APPEND: the UIDs of the new
// messages in the order they were sent (RFC 3502 §6.3.11, RFC 4315 §3).
type MultiAppendData struct {
	UIDValidity uint32
	UIDs        []imap.UID
}

// multiAppend reports whether APPEND goes through handleMultiAppend.
func (c *Conn) multiAppend() (SessionMultiAppend, bool) {
	sess, ok := c.session.(SessionMultiAppend)
	return sess, ok && c.server.options.caps().Has(imap.CapMultiAppend)
}

// handleMultiAppend parses
//
//	append = "APPEND" SP mailbox 1*append-message
//	append-message = SP [flag-list SP] [date-time SP] append-data
//
// (RFC 3502 §6.1). After the first refusal it accepts no further literal: a
// synchronising one is never asked for, a non-synchronising one is read and
// discarded with the rest of the command.
func (c *Conn) handleMultiAppend(tag string, dec *imapwire.Decoder, sess SessionMultiAppend) error {
	var mailbox string
	if !dec.ExpectSP() || !dec.ExpectMailbox(&mailbox) {
		return dec.Err()
	}
	var (
		app    Appender
		appErr error
	)
	if appErr = c.checkState(imap.ConnStateAuthenticated); appErr == nil {
		app, appErr = sess.BeginAppend(mailbox)
	}
	abort := func() {
		if app != nil {
			app.Abort()
		}
	}
	limit := c.appendLimit()
	n := 0
	for ; dec.SP(); n++ {
		options, dataExt, err := readAppendMessage(dec)
		if err != nil {
			abort()
			return err
		}
		lit, nonSync, err := dec.ExpectLiteralReader()
		if err != nil {
			abort()
			return err
		}
		if appErr == nil && lit.Size() > limit {
			appErr = &imap.Error{
				Type: imap.StatusResponseTypeNo,
				Code: imap.ResponseCodeTooBig,
				Text: fmt.Sprintf("Literals are limited to %v bytes for this command", limit),
			}
		}
		if appErr != nil {
			abort()
			if nonSync {
				return c.discardNonSync(lit, lit.Size(), appErr)
			}
			return appErr // the client sends no literal without "+"
		}
		if err := c.acceptLiteral(lit.Size(), nonSync); err != nil {
			abort()
			return err
		}
		c.setReadTimeout(literalReadTimeout)
		appErr = app.Add(lit, options)
		_, discardErr := io.Copy(io.Discard, lit)
		c.setReadTimeout(cmdReadTimeout)
		if discardErr != nil {
			abort()
			return discardErr
		}
		if dataExt && !dec.ExpectSpecial(')') {
			abort()
			return dec.Err()
		}
		if appErr != nil {
			abort()
			if err := c.skipCommand(); err != nil {
				return err
			}
			return appErr
		}
	}
	if !dec.ExpectCRLF() || n == 0 {
		abort()
		if dec.Err() != nil {
			return dec.Err()
		}
		return newClientBugError("APPEND without a message")
	}
	data, err := app.Commit()
	if err != nil {
		return err
	}
	if err := c.poll("APPEND"); err != nil {
		return err
	}
	return c.writeMultiAppendOK(tag, data)
}

// readAppendMessage reads [flag-list SP] [date-time SP] and the UTF8 data
// extension's "UTF8 (" up to the literal (RFC 6855 §4).
func readAppendMessage(dec *imapwire.Decoder) (*imap.AppendOptions, bool, error) {
	var options imap.AppendOptions
	hasFlagList, err := dec.List(func() error {
		flag, err := internal.ExpectFlag(dec)
		if err != nil {
			return err
		}
		options.Flags = append(options.Flags, flag)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if hasFlagList && !dec.ExpectSP() {
		return nil, false, dec.Err()
	}
	t, err := internal.DecodeDateTime(dec)
	if err != nil { // multimail fork: a bad date-time is the client's (BAD), not SERVERBUG
		return nil, false, newClientBugError("Invalid date-time")
	}
	if !t.IsZero() && !dec.ExpectSP() {
		return nil, false, dec.Err()
	}
	options.Time = t
	var dataExt string
	if !dec.Special('~') && dec.Atom(&dataExt) {
		if !strings.EqualFold(dataExt, "UTF8") {
			return nil, false, newClientBugError("Unknown APPEND data extension")
		}
		if !dec.ExpectSP() || !dec.ExpectSpecial('(') || !dec.ExpectSpecial('~') {
			return nil, false, dec.Err()
		}
	}
	return &options, dataExt != "", nil
}

func (c *Conn) appendLimit() int64 {
	if s, ok := c.session.(SessionAppendLimit); ok {
		return int64(s.AppendLimit())
	}
	return defaultAppendLimit
}

func (c *Conn) writeMultiAppendOK(tag string, data *MultiAppendData) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom(tag).SP().Atom("OK").SP()
	if data != nil && len(data.UIDs) > 0 {
		var set imap.UIDSet
		for _, uid := range data.UIDs {
			set.AddNum(uid)
		}
		enc.Special('[').Atom("APPENDUID").SP().Number(data.UIDValidity).SP().NumSet(set).Special(']').SP()
	}
	enc.Text("APPEND completed")
	return enc.CRLF()
}
