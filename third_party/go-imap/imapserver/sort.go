package imapserver

// multimail fork: SORT, UID SORT, THREAD and UID THREAD (RFC 5256), SORT=DISPLAY
// (RFC 5957) and ESORT (RFC 5267 §3). Upstream beta.8 has only the client side. The
// commands reach the session through the optional SessionSort and SessionThread
// interfaces and are advertised only when Options.Caps has CapSort / the THREAD caps
// and the session implements them.

import (
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// THREAD capabilities (RFC 5256 §3).
const (
	CapThreadOrderedSubject imap.Cap = "THREAD=ORDEREDSUBJECT"
	CapThreadReferences     imap.Cap = "THREAD=REFERENCES"
)

// SortKey is a SORT criterion's key (RFC 5256 §3, RFC 5957 §3).
type SortKey string

// The sort keys.
const (
	SortKeyArrival     SortKey = "ARRIVAL"
	SortKeyCc          SortKey = "CC"
	SortKeyDate        SortKey = "DATE"
	SortKeyFrom        SortKey = "FROM"
	SortKeySize        SortKey = "SIZE"
	SortKeySubject     SortKey = "SUBJECT"
	SortKeyTo          SortKey = "TO"
	SortKeyDisplayFrom SortKey = "DISPLAYFROM" // RFC 5957, with CapSortDisplay
	SortKeyDisplayTo   SortKey = "DISPLAYTO"   // RFC 5957, with CapSortDisplay
)

// SortCriterion is one sort key, possibly reversed.
type SortCriterion struct {
	Key     SortKey
	Reverse bool
}

// SessionSort is an IMAP session which supports SORT (RFC 5256).
type SessionSort interface {
	Session

	// Sort returns the numbers (sequence numbers or UIDs, by kind) of the
	// messages matching criteria, in the order sortCriteria define; ties are
	// broken by sequence number (RFC 5256 §3).
	Sort(kind NumKind, criteria *imap.SearchCriteria, sortCriteria []SortCriterion) ([]uint32, error)
}

// ThreadNode is one node of a THREAD response: a message number, or 0 for a
// dummy (a parent that is not part of the answer), and its children.
type ThreadNode struct {
	Num      uint32
	Children []ThreadNode
}

// SessionThread is an IMAP session which supports THREAD (RFC 5256).
type SessionThread interface {
	Session

	// Thread returns the threads of the messages matching criteria, built with
	// algorithm (one of those advertised), numbered by kind.
	Thread(kind NumKind, algorithm imap.ThreadAlgorithm, criteria *imap.SearchCriteria) ([]ThreadNode, error)
}

// handleSort parses
//
//	sort = ["UID" SP] "SORT" [SP sort-return-opts] SP sort-criteria SP search-criteria
//
// (RFC 5256 §5, RFC 5267 §3.2); search-criteria starts with the mandatory charset.
func (c *Conn) handleSort(tag string, dec *imapwire.Decoder, numKind NumKind) error {
	sess, ok := c.session.(SessionSort)
	if !ok || !c.server.options.caps().Has(imap.CapSort) {
		return newClientBugError("Unknown command")
	}
	if !dec.ExpectSP() {
		return dec.Err()
	}
	var (
		options  imap.SearchOptions
		extended bool
		atom     string
		cx       contextOptions // multimail fork: RFC 5267 §4, context.go
	)
	if dec.Func(&atom, imapwire.IsAtomChar) {
		if !strings.EqualFold(atom, "RETURN") || !c.server.options.caps().Has(imap.CapESort) {
			return newClientBugError("Expected sort criteria")
		}
		if err := c.readReturnOpts(dec, &options, &cx, CapContextSort); err != nil {
			return fmt.Errorf("in sort-return-opts: %w", err)
		}
		if options.ReturnSave {
			return newClientBugError("SAVE is not supported with SORT")
		}
		if !dec.ExpectSP() {
			return dec.Err()
		}
		extended = true
	}
	sortCriteria, err := readSortCriteria(dec, c.server.options.caps().Has(imap.CapSortDisplay))
	if err != nil {
		return err
	}
	criteria, err := readCharsetSearch(dec)
	if err != nil {
		return err
	}
	if err := c.checkState(imap.ConnStateSelected); err != nil {
		return err
	}
	saved, err := c.beginContext(tag, &cx, criteria, CapContextSort)
	if err != nil {
		return err
	}
	nums, err := sess.Sort(numKind, criteria, sortCriteria)
	if err != nil {
		return err
	}
	if cx.any() {
		return c.endContext(tag, numKind, &cx, &options, saved, sortCriteria, nums, 0, CapContextSort)
	}
	if extended {
		return c.writeESort(tag, nums, &options, numKind)
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("SORT")
	for _, n := range nums {
		enc.SP().Number(n)
	}
	return enc.CRLF()
}

// readSortCriteria reads sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
// (RFC 5256 §5); display allows DISPLAYFROM and DISPLAYTO (RFC 5957).
func readSortCriteria(dec *imapwire.Decoder, display bool) ([]SortCriterion, error) {
	var list []SortCriterion
	reverse := false
	err := dec.ExpectList(func() error {
		for {
			var atom string
			if !dec.ExpectAtom(&atom) {
				return dec.Err()
			}
			key := SortKey(strings.ToUpper(atom))
			switch key {
			case "REVERSE":
				if reverse {
					return newClientBugError("REVERSE twice")
				}
				reverse = true
				if !dec.ExpectSP() {
					return dec.Err()
				}
				continue
			case SortKeyArrival, SortKeyCc, SortKeyDate, SortKeyFrom, SortKeySize, SortKeySubject, SortKeyTo:
			case SortKeyDisplayFrom, SortKeyDisplayTo:
				if !display {
					return newClientBugError("Unknown sort key " + atom)
				}
			default:
				return newClientBugError("Unknown sort key " + atom)
			}
			list = append(list, SortCriterion{Key: key, Reverse: reverse})
			reverse = false
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, newClientBugError("Empty sort criteria")
	}
	if !dec.ExpectSP() {
		return nil, dec.Err()
	}
	return list, nil
}

// readCharsetSearch reads search-criteria = charset 1*(SP search-key) CRLF
// (RFC 5256 §5), the charset being mandatory.
func readCharsetSearch(dec *imapwire.Decoder) (*imap.SearchCriteria, error) {
	var charset string
	if !dec.ExpectAString(&charset) || !dec.ExpectSP() {
		return nil, dec.Err()
	}
	switch strings.ToUpper(charset) {
	case "US-ASCII", "UTF-8":
	default:
		return nil, &imap.Error{
			Type: imap.StatusResponseTypeNo,
			Code: imap.ResponseCodeBadCharset,
			Text: "Only US-ASCII and UTF-8 are supported charsets",
		}
	}
	var criteria imap.SearchCriteria
	for {
		if err := readSearchKey(&criteria, dec); err != nil {
			return nil, fmt.Errorf("in search-key: %w", err)
		}
		if !dec.SP() {
			break
		}
	}
	if !dec.ExpectCRLF() {
		return nil, dec.Err()
	}
	return &criteria, nil
}

// writeESort writes the ESEARCH answer of SORT RETURN (RFC 5267 §3.2): MIN and
// MAX are the first and last in sort order, ALL lists the numbers in sort
// order (ranges only where they ascend by one).
func (c *Conn) writeESort(tag string, nums []uint32, options *imap.SearchOptions, numKind NumKind) error {
	if !options.ReturnMin && !options.ReturnMax && !options.ReturnAll && !options.ReturnCount {
		options.ReturnAll = true
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ESEARCH").SP().Special('(').Atom("TAG").SP().String(tag).Special(')')
	if numKind == NumKindUID {
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
	if options.ReturnCount {
		enc.SP().Atom("COUNT").SP().Number(uint32(len(nums)))
	}
	return enc.CRLF()
}

// orderedSet writes nums in their order as a sequence-set, a run ascending by
// one as a range.
func orderedSet(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d:%d", nums[i], nums[j])
		} else {
			fmt.Fprintf(&b, "%d", nums[i])
		}
		i = j + 1
	}
	return b.String()
}

// handleThread parses thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
// (RFC 5256 §5).
func (c *Conn) handleThread(dec *imapwire.Decoder, numKind NumKind) error {
	sess, ok := c.session.(SessionThread)
	if !ok {
		return newClientBugError("Unknown command")
	}
	var alg string
	if !dec.ExpectSP() || !dec.ExpectAtom(&alg) || !dec.ExpectSP() {
		return dec.Err()
	}
	algorithm := imap.ThreadAlgorithm(strings.ToUpper(alg))
	if !c.server.options.caps().Has(imap.Cap("THREAD=" + string(algorithm))) {
		return newClientBugError("Unknown THREAD algorithm " + alg)
	}
	criteria, err := readCharsetSearch(dec)
	if err != nil {
		return err
	}
	if err := c.checkState(imap.ConnStateSelected); err != nil {
		return err
	}
	threads, err := sess.Thread(numKind, algorithm, criteria)
	if err != nil {
		return err
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("THREAD")
	if len(threads) > 0 {
		enc.SP()
	}
	for _, t := range threads {
		writeThread(enc.Encoder, t)
	}
	return enc.CRLF()
}

// writeThread writes one thread (RFC 5256 §4): "(" a chain of single children,
// then each of several children as its own parenthesised thread ")"; a dummy
// writes no number.
func writeThread(enc *imapwire.Encoder, t ThreadNode) {
	enc.Special('(')
	writeThreadChain(enc, t, false)
	enc.Special(')')
}

func writeThreadChain(enc *imapwire.Encoder, t ThreadNode, sp bool) {
	for {
		if t.Num != 0 {
			if sp {
				enc.SP()
			}
			enc.Number(t.Num)
			sp = true
		}
		if len(t.Children) != 1 {
			break
		}
		t = t.Children[0]
	}
	if len(t.Children) > 1 && sp {
		enc.SP()
	}
	for _, child := range t.Children {
		writeThread(enc, child)
	}
}
