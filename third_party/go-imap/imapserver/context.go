package imapserver

// multimail fork: CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4). The return options
// CONTEXT (a hint, ignored), UPDATE and PARTIAL on SEARCH, UID SEARCH, SORT and UID SORT,
// the CANCELUPDATE command, and the writer of the unsolicited ESEARCH ADDTO/REMOVEFROM
// updates. The session keeps the update contexts (it knows when results change) through
// the optional SessionContext interface; the capabilities are advertised when
// Options.Caps has them and the session implements it.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// CONTEXT capabilities (RFC 5267 §4).
const (
	CapContextSearch imap.Cap = "CONTEXT=SEARCH"
	CapContextSort   imap.Cap = "CONTEXT=SORT"
)

// ErrNoUpdate is what SessionContext.StartUpdate returns when it will not keep one more
// update context: the command still answers, with an untagged NO [NOUPDATE "tag"]
// (RFC 5267 §4.3.1).
var ErrNoUpdate = errors.New("imapserver: update context refused")

// UpdateContext is a search or sort whose result the client asked to be kept up to date
// (RETURN (UPDATE), RFC 5267 §4.3).
type UpdateContext struct {
	Tag      string               // the searching command's tag, the update's correlator
	Kind     NumKind              // UID SEARCH/SORT report UIDs, else sequence numbers
	Criteria *imap.SearchCriteria // as parsed, before the session resolved "*" or "$"
	Sort     []SortCriterion      // nil for SEARCH
	Result   []uint32             // the command's result, in its order, numbered by Kind
}

// SessionContext is an IMAP session which keeps update contexts (RFC 5267 §4.3). Its
// contexts end when the mailbox is unselected, or another one selected.
type SessionContext interface {
	Session

	// HasUpdate reports whether tag names a live update context: a new UPDATE under
	// the same tag is BAD (RFC 5267 §4.3).
	HasUpdate(tag string) bool
	// StartUpdate keeps ctx up to date from now on, or returns ErrNoUpdate.
	StartUpdate(ctx *UpdateContext) error
	// CancelUpdate ends the contexts of tags; ok is false (and nothing ends) when one
	// of them names none.
	CancelUpdate(tags []string) (ok bool)
}

// ContextPair is one (context-position, set) pair of ADDTO or REMOVEFROM: Pos is 0 for a
// SEARCH context (RFC 5267 §4.3.3: the client places them in mailbox order), else the
// 1-based position of the first of Nums, which follow each other in the result's order.
type ContextPair struct {
	Pos  uint32
	Nums []uint32
}

// contextOptions are the return options of RFC 5267 §4.
type contextOptions struct {
	update  bool
	partial []uint32 // [lo, hi], lo <= hi, when PARTIAL was given
}

func (o *contextOptions) any() bool { return o.update || o.partial != nil }

// contextSession returns the session's SessionContext when cap is on.
func (c *Conn) contextSession(cap imap.Cap) (SessionContext, bool) {
	sess, ok := c.session.(SessionContext)
	if !ok || !c.server.options.caps().Has(cap) {
		return nil, false
	}
	return sess, true
}

// readReturnOpts reads search-return-opts (RFC 4731 §3.1, RFC 5267 §5); the options of
// RFC 5267 §4 only when the session supports cap.
func (c *Conn) readReturnOpts(dec *imapwire.Decoder, options *imap.SearchOptions, cx *contextOptions, cap imap.Cap) error {
	_, ctxOK := c.contextSession(cap)
	if !dec.ExpectSP() {
		return dec.Err()
	}
	return dec.ExpectList(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		switch strings.ToUpper(name) {
		case "MIN":
			options.ReturnMin = true
		case "MAX":
			options.ReturnMax = true
		case "ALL":
			options.ReturnAll = true
		case "COUNT":
			options.ReturnCount = true
		case "SAVE":
			options.ReturnSave = true
		case "CONTEXT":
			if !ctxOK {
				return newClientBugError("unknown SEARCH RETURN option")
			}
			// a hint that the search will be used again (§4.2): nothing to keep
		case "UPDATE":
			if !ctxOK {
				return newClientBugError("unknown SEARCH RETURN option")
			}
			cx.update = true
		case "PARTIAL":
			if !ctxOK {
				return newClientBugError("unknown SEARCH RETURN option")
			}
			if cx.partial != nil {
				return newClientBugError("PARTIAL given twice")
			}
			var atom string
			if !dec.ExpectSP() || !dec.ExpectAtom(&atom) {
				return dec.Err()
			}
			lo, hi, err := parsePartialRange(atom)
			if err != nil {
				return err
			}
			cx.partial = []uint32{lo, hi}
		default:
			return newClientBugError("unknown SEARCH RETURN option")
		}
		if options.ReturnAll && cx.partial != nil {
			// RFC 5267 §4.4: either one PARTIAL, one ALL, or neither.
			return newClientBugError("PARTIAL conflicts with ALL")
		}
		return nil
	})
}

// parsePartialRange reads partial-range = nz-number ":" nz-number (RFC 5267 §5); 500:400
// is 400:500, "*" is not allowed.
func parsePartialRange(s string) (lo, hi uint32, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, newClientBugError("PARTIAL range broken")
	}
	x, errA := strconv.ParseUint(a, 10, 32)
	y, errB := strconv.ParseUint(b, 10, 32)
	if errA != nil || errB != nil || x == 0 || y == 0 {
		return 0, 0, newClientBugError("PARTIAL range broken")
	}
	if x > y { // go 1.18 (this module's go.mod) has no min/max
		x, y = y, x
	}
	return uint32(x), uint32(y), nil
}

// beginContext checks an UPDATE before the search runs (its tag must not name a live
// context, RFC 5267 §4.3) and keeps a copy of the criteria as parsed, which the session's
// search may resolve in place.
func (c *Conn) beginContext(tag string, cx *contextOptions, criteria *imap.SearchCriteria, cap imap.Cap) (*imap.SearchCriteria, error) {
	if !cx.update {
		return nil, nil
	}
	sess, _ := c.contextSession(cap)
	if sess.HasUpdate(tag) {
		return nil, newClientBugError("Tag reuse: an update context has this tag")
	}
	return CloneSearchCriteria(criteria), nil
}

// endContext answers a search or sort with RFC 5267 §4 options: it starts the update
// context (or says NOUPDATE) and writes the ESEARCH, PARTIAL in ALL's place. nums is the
// result in its order (ascending for SEARCH, sort order for SORT): MIN and MAX are its
// first and last, ALL lists it in that order.
func (c *Conn) endContext(tag string, kind NumKind, cx *contextOptions, options *imap.SearchOptions, saved *imap.SearchCriteria, sortCriteria []SortCriterion, nums []uint32, modSeq uint64, cap imap.Cap) error {
	if cx.update {
		sess, _ := c.contextSession(cap)
		err := sess.StartUpdate(&UpdateContext{Tag: tag, Kind: kind, Criteria: saved, Sort: sortCriteria, Result: append([]uint32(nil), nums...)})
		if errors.Is(err, ErrNoUpdate) {
			// §4.3.1: an untagged NO; the other return options are still honoured.
			if err := c.writeNoUpdate(tag); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ESEARCH").SP().Special('(').Atom("TAG").SP().String(tag).Special(')')
	if kind == NumKindUID {
		enc.SP().Atom("UID")
	}
	if options.ReturnMin && len(nums) > 0 {
		enc.SP().Atom("MIN").SP().Number(nums[0])
	}
	if options.ReturnMax && len(nums) > 0 {
		enc.SP().Atom("MAX").SP().Number(nums[len(nums)-1])
	}
	if options.ReturnAll && len(nums) > 0 {
		enc.SP().Atom("ALL").SP().Atom(orderedSet(nums))
	}
	if cx.partial != nil {
		lo, hi := cx.partial[0], cx.partial[1]
		enc.SP().Atom("PARTIAL").SP().Special('(').Atom(fmt.Sprintf("%d:%d", lo, hi)).SP()
		if part := partialOf(nums, lo, hi); len(part) > 0 {
			enc.Atom(orderedSet(part))
		} else {
			enc.NIL()
		}
		enc.Special(')')
	}
	if options.ReturnCount {
		enc.SP().Atom("COUNT").SP().Number(uint32(len(nums)))
	}
	if modSeq > 0 {
		enc.SP().Atom("MODSEQ").SP().ModSeq(modSeq)
	}
	return enc.CRLF()
}

// partialOf is the lo-th to hi-th (1-based) of nums, what there is of them (RFC 5267 §4.4).
func partialOf(nums []uint32, lo, hi uint32) []uint32 {
	n := uint32(len(nums))
	if lo > n {
		return nil
	}
	if hi > n {
		hi = n
	}
	return nums[lo-1 : hi]
}

func (c *Conn) writeNoUpdate(tag string) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("NO").SP().Special('[').Atom("NOUPDATE").SP().String(tag).Special(']')
	enc.SP().Text("Too many update contexts, this search will not be updated")
	return enc.CRLF()
}

// handleCancelUpdate parses cancelupdate = "CANCELUPDATE" 1*(SP quoted) (RFC 5267 §5). An
// unknown tag is NO, as Dovecot answers.
func (c *Conn) handleCancelUpdate(dec *imapwire.Decoder) error {
	var tags []string
	for dec.SP() {
		var tag string
		if !dec.Quoted(&tag) {
			return newClientBugError("CANCELUPDATE takes quoted tags")
		}
		tags = append(tags, tag)
	}
	if len(tags) == 0 {
		return newClientBugError("CANCELUPDATE needs a tag")
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateSelected); err != nil {
		return err
	}
	sess, ok := c.contextSession(CapContextSearch)
	if !ok {
		if sess, ok = c.contextSession(CapContextSort); !ok {
			return newClientBugError("Unknown command")
		}
	}
	if !sess.CancelUpdate(tags) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unknown tag"}
	}
	return nil
}

// WriteContextUpdate writes an unsolicited ESEARCH with the REMOVEFROM pairs, then the
// ADDTO pairs, of the context of tag (RFC 5267 §4.3.2-4.3.4); the client applies them in
// that order. Nothing is written when both are empty. The session calls it where it may
// send unsolicited responses: ADDTO after the EXISTS of new messages, REMOVEFROM of
// expunged ones before their EXPUNGE.
func (c *Conn) WriteContextUpdate(tag string, kind NumKind, remove, add []ContextPair) error {
	if len(remove) == 0 && len(add) == 0 {
		return nil
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ESEARCH").SP().Special('(').Atom("TAG").SP().String(tag).Special(')')
	if kind == NumKindUID {
		enc.SP().Atom("UID")
	}
	writePairs(enc.Encoder, "REMOVEFROM", remove)
	writePairs(enc.Encoder, "ADDTO", add)
	return enc.CRLF()
}

func writePairs(enc *imapwire.Encoder, name string, pairs []ContextPair) {
	if len(pairs) == 0 {
		return
	}
	enc.SP().Atom(name).SP().Special('(')
	for i, p := range pairs {
		if i > 0 {
			enc.SP()
		}
		enc.Number(p.Pos).SP().Atom(orderedSet(p.Nums))
	}
	enc.Special(')')
}

// CloneSearchCriteria copies c deeply enough that resolving its sets in place ("*", "$")
// leaves the original as parsed.
func CloneSearchCriteria(c *imap.SearchCriteria) *imap.SearchCriteria {
	out := *c
	out.SeqNum = make([]imap.SeqSet, len(c.SeqNum))
	for i, s := range c.SeqNum {
		out.SeqNum[i] = append(imap.SeqSet(nil), s...)
	}
	out.UID = make([]imap.UIDSet, len(c.UID))
	for i, s := range c.UID {
		if imap.IsSearchRes(s) {
			out.UID[i] = s
			continue
		}
		out.UID[i] = append(imap.UIDSet(nil), s...)
	}
	out.Not = make([]imap.SearchCriteria, len(c.Not))
	for i := range c.Not {
		out.Not[i] = *CloneSearchCriteria(&c.Not[i])
	}
	out.Or = make([][2]imap.SearchCriteria, len(c.Or))
	for i := range c.Or {
		out.Or[i] = [2]imap.SearchCriteria{*CloneSearchCriteria(&c.Or[i][0]), *CloneSearchCriteria(&c.Or[i][1])}
	}
	return &out
}

// numSetNums lists a search result's numbers in ascending order.
func numSetNums(set imap.NumSet) []uint32 {
	switch set := set.(type) {
	case imap.SeqSet:
		nums, _ := set.Nums()
		return nums
	case imap.UIDSet:
		uids, _ := set.Nums()
		nums := make([]uint32, len(uids))
		for i, u := range uids {
			nums[i] = uint32(u)
		}
		return nums
	}
	return nil
}
