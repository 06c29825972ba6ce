package imapserver

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"strings"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"multimail.dev/multimail/mailbox"
)

// listThreshold is the number of addressed messages above which a command
// reads the whole folder with one List instead of one Email lookup each.
const listThreshold = 32

// Fetch implements goimap.Session. Messages expunged by someone else but not
// yet reported are skipped.
func (sess *session) Fetch(w *goimap.FetchWriter, numSet imap.NumSet, o *imap.FetchOptions) error {
	sess.count("FETCH")
	if err := sess.view.checkSeq(numSet); err != nil {
		return err
	}
	v := sess.view
	targets := v.resolve(numSet)
	if o.ChangedSince > 0 {
		var err error
		if targets, err = sess.changedTargets(targets, o.ChangedSince); err != nil {
			return err
		}
	}
	emails, err := sess.load(targets)
	if err != nil {
		return err
	}
	markSeen := !v.readOnly && wantsSeen(o)
	expunged := false
	for i, t := range targets {
		e, ok := emails[i]
		if !ok {
			expunged = true
			continue
		}
		if o.ChangedSince > 0 && e.ModSeq <= o.ChangedSince { // RFC 7162 §3.1.4
			continue
		}
		err := sess.fetchOne(w, t, e, o, markSeen)
		if errors.Is(err, errExpunged) {
			expunged = true
			continue
		}
		if err != nil {
			return err
		}
	}
	if expunged && needsRaw(o) {
		// RFC 2180 §4.1.3 and RFC 5530, as Dovecot answers: the command
		// succeeds, and says some content is gone.
		return &imap.Error{Type: imap.StatusResponseTypeOK, Code: codeExpungeIssued,
			Text: "Some messages were expunged by another session"}
	}
	return nil
}

// codeExpungeIssued is RFC 5530's EXPUNGEISSUED.
const codeExpungeIssued imap.ResponseCode = "EXPUNGEISSUED"

// errExpunged says a message was expunged by someone else while a command
// ran; it never reaches the client.
var errExpunged = errors.New("expunged meanwhile")

// wantsSeen reports whether the fetch sets \Seen (RFC 9051 §6.4.5: BODY[]
// without .PEEK, BINARY[] likewise).
func wantsSeen(o *imap.FetchOptions) bool {
	for _, bs := range o.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range o.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

func (sess *session) fetchOne(w *goimap.FetchWriter, t target, e mailbox.Email, o *imap.FetchOptions, markSeen bool) error {
	var raw []byte
	if needsRaw(o) {
		r, err := sess.store.Raw(sess.ctx, e.ID)
		if errors.Is(err, mailbox.ErrNotFound) {
			return errExpunged
		}
		if err != nil {
			return err
		}
		raw = r
	}
	flags, marked := o.Flags, false
	if markSeen && !e.HasFlag(mailbox.FlagSeen) {
		updated, err := sess.setFlags(e, []string{mailbox.FlagSeen}, nil, math.MaxUint64)
		if errors.Is(err, mailbox.ErrNotFound) {
			return errExpunged
		}
		if err != nil {
			return toIMAP(err)
		}
		e, flags, marked = updated, true, true
	}
	rw := w.CreateMessage(t.seq)
	rw.WriteUID(t.uid)
	if flags {
		rw.WriteFlags(imapFlags(e))
		sess.view.noteKeywords(e) // FLAGS follows at the poll ending the command
	}
	if o.ModSeq || (marked && sess.condStore()) { // RFC 7162 §3.1.4; §3.2.4: a flag change has its MODSEQ
		sess.writeModSeq(rw, e.ModSeq)
	}
	if o.InternalDate {
		rw.WriteInternalDate(e.InternalDate)
	}
	if o.RFC822Size {
		rw.WriteRFC822Size(e.Size)
	}
	writeParsed(rw, raw, o)
	if err := writeSections(rw, raw, o); err != nil {
		rw.Close()
		return err
	}
	return rw.Close()
}

func needsRaw(o *imap.FetchOptions) bool {
	return o.Envelope || o.BodyStructure != nil || len(o.BodySection) > 0 ||
		len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0
}

// writeParsed writes ENVELOPE and BODYSTRUCTURE, parsed from the raw message.
func writeParsed(rw *goimap.FetchResponseWriter, raw []byte, o *imap.FetchOptions) {
	if o.Envelope {
		rw.WriteEnvelope(envelope(raw))
	}
	if o.BodyStructure != nil {
		rw.WriteBodyStructure(bodyStructure(raw))
	}
}

// writeSections writes the BODY[...] and BINARY[...] items.
func writeSections(rw *goimap.FetchResponseWriter, raw []byte, o *imap.FetchOptions) error {
	if err := checkCTE(raw, o); err != nil {
		return err
	}
	for _, bs := range o.BodySection {
		b := bodySection(raw, bs)
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(b))), b); err != nil {
			return err
		}
	}
	for _, bs := range o.BinarySection {
		b := goimap.ExtractBinarySection(bytes.NewReader(raw), bs)
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(b))), b); err != nil {
			return err
		}
	}
	for _, bs := range o.BinarySectionSize {
		rw.WriteBinarySectionSize(bs, goimap.ExtractBinarySectionSize(bytes.NewReader(raw), bs))
	}
	return nil
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, b []byte) error {
	_, err := wc.Write(b)
	return errors.Join(err, wc.Close())
}

// bodySection returns a BODY[...] item. The whole message, its header and
// its text are cut from the stored bytes, so BODY[] is the message byte for
// byte; other sections go through go-imap's MIME walker.
func bodySection(raw []byte, bs *imap.FetchItemBodySection) []byte {
	if len(bs.Part) > 0 || len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0 {
		return goimap.ExtractBodySection(bytes.NewReader(raw), bs)
	}
	header, text := splitMessage(raw)
	switch bs.Specifier {
	case imap.PartSpecifierNone:
		return partial(raw, bs.Partial)
	case imap.PartSpecifierHeader:
		return partial(header, bs.Partial)
	case imap.PartSpecifierText:
		return partial(text, bs.Partial)
	}
	return goimap.ExtractBodySection(bytes.NewReader(raw), bs)
}

// splitMessage splits raw after the blank line that ends the header; the
// header keeps it (RFC 9051 §6.4.5 HEADER). Without a blank line it is all
// header.
func splitMessage(raw []byte) (header, text []byte) {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return raw[:2], raw[2:]
	}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+4], raw[i+4:]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[:i+2], raw[i+2:]
	}
	return raw, nil
}

func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return nil
	}
	end := min(p.Offset+p.Size, int64(len(b)))
	return b[p.Offset:end]
}

// checkCTE refuses BINARY of a part whose Content-Transfer-Encoding the
// server cannot decode: NO [UNKNOWN-CTE] (RFC 3516 §4.3), not an empty part.
func checkCTE(raw []byte, o *imap.FetchOptions) error {
	var parts [][]int
	for _, bs := range o.BinarySection {
		parts = append(parts, bs.Part)
	}
	for _, bs := range o.BinarySectionSize {
		parts = append(parts, bs.Part)
	}
	for _, part := range parts {
		if !knownCTE(raw, part) {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "UNKNOWN-CTE", Text: "Unknown Content-Transfer-Encoding"}
		}
	}
	return nil
}

// knownCTE reports whether the part's Content-Transfer-Encoding is one
// go-message decodes (RFC 2045 §6.1).
func knownCTE(raw []byte, part []int) bool {
	head, _ := splitMessage(raw)
	if len(part) > 0 {
		head = goimap.ExtractBodySection(bytes.NewReader(raw), &imap.FetchItemBodySection{Part: part, Specifier: imap.PartSpecifierMIME})
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "", "7bit", "8bit", "binary", "quoted-printable", "base64":
		return true
	}
	return false
}
