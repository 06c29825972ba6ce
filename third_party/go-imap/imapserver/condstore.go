package imapserver

// multimail fork: CONDSTORE and QRESYNC (RFC 7162). The parsing and the responses live
// here; the session answers through SessionQResync and the existing Session methods
// (SelectOptions.CondStore, FetchOptions.ModSeq/ChangedSince, StoreOptions.UnchangedSince,
// SearchCriteria.ModSeq, StatusOptions.HighestModSeq) and learns what the client enabled
// from Conn.EnabledCaps.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// SessionQResync is an IMAP session which supports CONDSTORE and QRESYNC (RFC 7162): every
// message has a MODSEQ, and the session keeps what left the mailbox.
//
// With it (and CONDSTORE/QRESYNC in Options.Caps) the server parses the RFC 7162 syntax and
// enables CONDSTORE when a command asks for it. The session reports MODSEQ in FETCH
// responses (FetchResponseWriter.WriteModSeq) once EnabledCaps has CONDSTORE, fills
// SelectData.HighestModSeq and StatusData.HighestModSeq, answers FETCH CHANGEDSINCE and
// STORE UNCHANGEDSINCE (returning ModifiedError for the messages it did not change), and
// once EnabledCaps has QRESYNC reports expunges with WriteVanished instead of WriteExpunge.
type SessionQResync interface {
	Session

	// Vanished returns the UIDs among uids that left the selected mailbox after modseq
	// since (SELECT QRESYNC, UID FETCH CHANGEDSINCE VANISHED). It may include UIDs the
	// client never saw (RFC 7162 §3.2.5.2).
	Vanished(uids imap.UIDSet, since uint64) (imap.UIDSet, error)

	// TaggedHighestModSeq returns the HIGHESTMODSEQ to put in the tagged OK of the command
	// just run, 0 for none: under QRESYNC, after the command reported expunges (VANISHED
	// carries no modseq), as Dovecot does. It must not exceed a modseq the client was told
	// everything up to.
	TaggedHighestModSeq() uint64
}

// ModifiedError is the tagged OK of a STORE (UNCHANGEDSINCE) that left the messages in set
// alone because they changed after the given modseq (RFC 7162 §3.1.3, MODIFIED).
func ModifiedError(set imap.NumSet) error {
	return &imap.Error{Type: imap.StatusResponseTypeOK, Code: imap.ResponseCode("MODIFIED " + set.String()),
		Text: "Conditional STORE failed"}
}

// tagHighestModSeq adds [HIGHESTMODSEQ n] to a command's tagged OK when the session has one.
func (c *Conn) tagHighestModSeq(resp *imap.StatusResponse) {
	s, ok := c.session.(SessionQResync)
	if !ok || resp.Code != "" || !c.enabledCap(imap.CapQResync) {
		return
	}
	if v := s.TaggedHighestModSeq(); v > 0 {
		resp.Code = imap.ResponseCode("HIGHESTMODSEQ " + strconv.FormatUint(v, 10))
	}
}

// qresyncParams are SELECT's (QRESYNC (...)) parameters.
type qresyncParams struct {
	uidValidity uint32
	modSeq      uint64
	knownUIDs   imap.UIDSet // nil: all
}

// condStore reports whether the server offers CONDSTORE and the session can do it.
func (c *Conn) condStore() bool {
	_, ok := c.session.(SessionQResync)
	return ok && c.server.options.caps().Has(imap.CapCondStore)
}

func (c *Conn) qresync() bool {
	return c.condStore() && c.server.options.caps().Has(imap.CapQResync)
}

// enableCondStore turns CONDSTORE on, as ENABLE or any CONDSTORE-enabling command does
// (RFC 7162 §3.1).
func (c *Conn) enableCondStore() {
	c.mutex.Lock()
	c.enabled[imap.CapCondStore] = struct{}{}
	c.mutex.Unlock()
}

func (c *Conn) enabledCap(cap imap.Cap) bool {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	return c.enabled.Has(cap)
}

// enableable reports whether ENABLE may turn cap on.
func (c *Conn) enableable(cap imap.Cap) bool {
	switch cap {
	case imap.CapCondStore:
		return c.condStore()
	case imap.CapQResync:
		return c.qresync()
	}
	return false
}

// readSelectParams reads SELECT/EXAMINE's optional parameters:
//
//	select-params = SP "(" select-param *(SP select-param) ")"
//	select-param  = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
//	                [SP known-uids] [SP seq-match-data] ")"
//
// seq-match-data is read and ignored: the session knows every expunge it reports.
func (c *Conn) readSelectParams(dec *imapwire.Decoder, options *imap.SelectOptions) (*qresyncParams, error) {
	if !dec.SP() {
		return nil, nil
	}
	var qr *qresyncParams
	err := dec.ExpectList(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		switch strings.ToUpper(name) {
		case "CONDSTORE":
			if !c.condStore() {
				return newClientBugError("CONDSTORE is not supported")
			}
			options.CondStore = true
		case "QRESYNC":
			if !c.qresync() || !c.enabledCap(imap.CapQResync) {
				return newClientBugError("QRESYNC is not enabled")
			}
			if qr != nil {
				return newClientBugError("QRESYNC given twice")
			}
			qr = new(qresyncParams)
			if !dec.ExpectSP() {
				return dec.Err()
			}
			return readQResyncParams(dec, qr)
		default:
			return newClientBugError("unknown SELECT parameter")
		}
		return nil
	})
	return qr, err
}

func readQResyncParams(dec *imapwire.Decoder, qr *qresyncParams) error {
	if !dec.ExpectSpecial('(') || !dec.ExpectNumber(&qr.uidValidity) || !dec.ExpectSP() || !dec.ExpectModSeq(&qr.modSeq) {
		return dec.Err()
	}
	if qr.uidValidity == 0 || qr.modSeq == 0 {
		return newClientBugError("QRESYNC needs a non-zero UIDVALIDITY and mod-sequence")
	}
	if dec.Special(')') {
		return nil
	}
	if !dec.ExpectSP() {
		return dec.Err()
	}
	if !dec.Special('(') {
		var known imap.UIDSet
		if !dec.ExpectUIDSet(&known) {
			return dec.Err()
		}
		qr.knownUIDs = known
		if dec.Special(')') {
			return nil
		}
		if !dec.ExpectSP() || !dec.ExpectSpecial('(') {
			return dec.Err()
		}
	}
	var seqs imap.NumSet
	var uids imap.UIDSet
	if !dec.ExpectNumSet(imapwire.NumKindSeq, &seqs) || !dec.ExpectSP() || !dec.ExpectUIDSet(&uids) ||
		!dec.ExpectSpecial(')') || !dec.ExpectSpecial(')') {
		return dec.Err()
	}
	return nil
}

// writeSelectCondStore writes what CONDSTORE and QRESYNC add to a SELECT's answer before
// its tagged OK: HIGHESTMODSEQ, then, for a QRESYNC select of the same UIDVALIDITY, the
// UIDs vanished and the messages changed since the client's modseq.
func (c *Conn) writeSelectCondStore(data *imap.SelectData, options *imap.SelectOptions, qr *qresyncParams) error {
	if options.CondStore || qr != nil {
		c.enableCondStore()
	}
	if !c.condStore() || !c.enabledCap(imap.CapCondStore) {
		return nil
	}
	if err := c.writeHighestModSeq(data.HighestModSeq); err != nil {
		return err
	}
	if qr == nil || qr.uidValidity != data.UIDValidity {
		return nil
	}
	known := qr.knownUIDs
	if known == nil {
		known = imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	}
	if err := c.writeVanishedSince(known, qr.modSeq); err != nil {
		return err
	}
	w := &FetchWriter{conn: c}
	return c.session.Fetch(w, known, &imap.FetchOptions{UID: true, Flags: true, ModSeq: true, ChangedSince: qr.modSeq})
}

// writeVanishedSince writes VANISHED (EARLIER) for the UIDs of uids gone after since.
func (c *Conn) writeVanishedSince(uids imap.UIDSet, since uint64) error {
	gone, err := c.session.(SessionQResync).Vanished(uids, since)
	if err != nil || len(gone) == 0 {
		return err
	}
	return c.writeVanished(gone, true)
}

func (c *Conn) writeHighestModSeq(v uint64) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("OK").SP()
	enc.Special('[').Atom("HIGHESTMODSEQ").SP().ModSeq(v).Special(']')
	enc.SP().Text("Highest")
	return enc.CRLF()
}

func (c *Conn) writeVanished(uids imap.UIDSet, earlier bool) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("VANISHED").SP()
	if earlier {
		enc.Atom("(EARLIER)").SP()
	}
	enc.NumSet(uids)
	return enc.CRLF()
}

// readFetchModifiers reads FETCH's optional modifiers:
//
//	fetch-modifier = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED"
func (c *Conn) readFetchModifiers(dec *imapwire.Decoder, options *imap.FetchOptions) (vanished bool, err error) {
	if !dec.SP() {
		return false, nil
	}
	err = dec.ExpectList(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		switch strings.ToUpper(name) {
		case "CHANGEDSINCE":
			if !c.condStore() {
				return newClientBugError("CHANGEDSINCE is not supported")
			}
			if !dec.ExpectSP() || !dec.ExpectModSeq(&options.ChangedSince) {
				return dec.Err()
			}
			if options.ChangedSince == 0 {
				return newClientBugError("CHANGEDSINCE needs a non-zero mod-sequence")
			}
		case "VANISHED":
			vanished = true
		default:
			return newClientBugError("unknown FETCH modifier")
		}
		return nil
	})
	return vanished, err
}

// fetchCondStore does what CONDSTORE and QRESYNC add to a FETCH before its responses:
// CHANGEDSINCE implies MODSEQ and enables CONDSTORE (as MODSEQ does), and VANISHED
// (UID FETCH with CHANGEDSINCE, QRESYNC enabled) first reports the UIDs gone.
func (c *Conn) fetchCondStore(numSet imap.NumSet, numKind NumKind, options *imap.FetchOptions, vanished bool) error {
	if options.ChangedSince > 0 {
		options.ModSeq = true
	}
	if options.ModSeq {
		c.enableCondStore()
	}
	if !vanished {
		return nil
	}
	uids, ok := numSet.(imap.UIDSet)
	if numKind != NumKindUID || !ok || options.ChangedSince == 0 || !c.enabledCap(imap.CapQResync) {
		return newClientBugError("VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled")
	}
	return c.writeVanishedSince(uids, options.ChangedSince)
}

// readStoreModifiers reads STORE's optional modifiers after the sequence set:
//
//	store-modifier = "UNCHANGEDSINCE" SP mod-sequence-valzer
func (c *Conn) readStoreModifiers(dec *imapwire.Decoder, options *imap.StoreOptions) (bool, error) {
	unchanged := false
	isList, err := dec.List(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		if !strings.EqualFold(name, "UNCHANGEDSINCE") || !c.condStore() {
			return newClientBugError("unknown STORE modifier")
		}
		unchanged = true
		if !dec.ExpectSP() || !dec.ExpectModSeq(&options.UnchangedSince) {
			return dec.Err()
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if isList && !dec.ExpectSP() {
		return false, dec.Err()
	}
	if unchanged {
		c.enableCondStore()
	}
	return unchanged, nil
}

// readSearchModSeq reads the MODSEQ search key after its name:
//
//	search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
//	search-modseq-ext  = SP entry-name SP entry-type-req
func readSearchModSeq(criteria *imap.SearchCriteria, dec *imapwire.Decoder) error {
	ms := &imap.SearchCriteriaModSeq{}
	if !dec.ExpectSP() {
		return dec.Err()
	}
	if dec.String(&ms.MetadataName) {
		var typ string
		if !dec.ExpectSP() || !dec.ExpectAtom(&typ) || !dec.ExpectSP() {
			return dec.Err()
		}
		switch t := imap.SearchCriteriaMetadataType(strings.ToLower(typ)); t {
		case imap.SearchCriteriaMetadataAll, imap.SearchCriteriaMetadataPrivate, imap.SearchCriteriaMetadataShared:
			ms.MetadataType = t
		default:
			return newClientBugError("unknown MODSEQ entry type")
		}
	}
	if !dec.ExpectModSeq(&ms.ModSeq) {
		return dec.Err()
	}
	if criteria.ModSeq != nil && criteria.ModSeq.ModSeq > ms.ModSeq {
		ms.ModSeq = criteria.ModSeq.ModSeq // both must hold: the larger does
	}
	criteria.ModSeq = ms
	return nil
}

// searchHasModSeq reports whether a SEARCH uses the MODSEQ key anywhere, which enables
// CONDSTORE and adds MODSEQ to the answer.
func searchHasModSeq(criteria *imap.SearchCriteria) bool {
	if criteria.ModSeq != nil {
		return true
	}
	for i := range criteria.Not {
		if searchHasModSeq(&criteria.Not[i]) {
			return true
		}
	}
	for i := range criteria.Or {
		if searchHasModSeq(&criteria.Or[i][0]) || searchHasModSeq(&criteria.Or[i][1]) {
			return true
		}
	}
	return false
}

// WriteModSeq writes the MODSEQ item of a FETCH response.
func (w *FetchResponseWriter) WriteModSeq(v uint64) {
	w.writeItemSep()
	w.enc.Atom("MODSEQ").SP().Special('(').ModSeq(v).Special(')')
}

// WriteMessageFlagsModSeq writes a FETCH response with UID, FLAGS and MODSEQ, the
// unsolicited flag change of a CONDSTORE client (RFC 7162 §3.2.4).
func (w *UpdateWriter) WriteMessageFlagsModSeq(seqNum uint32, uid imap.UID, flags []imap.Flag, modSeq uint64) error {
	fetchWriter := &FetchWriter{conn: w.conn}
	respWriter := fetchWriter.CreateMessage(seqNum)
	if uid != 0 {
		respWriter.WriteUID(uid)
	}
	respWriter.WriteFlags(flags)
	respWriter.WriteModSeq(modSeq)
	return respWriter.Close()
}

// WriteVanished writes a VANISHED response, which replaces EXPUNGE once QRESYNC is enabled.
func (w *UpdateWriter) WriteVanished(uids imap.UIDSet) error {
	if !w.allowExpunge {
		return fmt.Errorf("imapserver: VANISHED updates are not allowed in this context")
	}
	return w.conn.writeVanished(uids, false)
}

// WriteVanished writes a VANISHED response for EXPUNGE and UID EXPUNGE with QRESYNC.
func (w *ExpungeWriter) WriteVanished(uids imap.UIDSet) error {
	if w.conn == nil {
		return nil
	}
	return w.conn.writeVanished(uids, false)
}

// WriteVanished writes a VANISHED response for MOVE with QRESYNC.
func (w *MoveWriter) WriteVanished(uids imap.UIDSet) error {
	return w.conn.writeVanished(uids, false)
}
