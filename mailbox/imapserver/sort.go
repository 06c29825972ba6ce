package imapserver

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
)

var (
	_ goimap.SessionSort   = (*session)(nil)
	_ goimap.SessionThread = (*session)(nil)
)

// sortItem is one message of a SORT or THREAD answer.
type sortItem struct {
	seq  uint32
	uid  imap.UID
	e    *mailbox.Email
	keys []sortKey // one per sort criterion
}

// sortKey is a message's value for one sort criterion: a string (compared
// after folding case) or a number.
type sortKey struct {
	s string
	n int64
}

// Sort implements goimap.SessionSort: SORT and UID SORT (RFC 5256 §3), with
// DISPLAYFROM and DISPLAYTO (RFC 5957). Ties are broken by sequence number.
func (sess *session) Sort(kind goimap.NumKind, c *imap.SearchCriteria, crit []goimap.SortCriterion) ([]uint32, error) {
	sess.count("SORT")
	return sess.sorted(kind, c, crit)
}

// sorted is Sort's answer, also for the SORT UPDATE contexts (context.go).
func (sess *session) sorted(kind goimap.NumKind, c *imap.SearchCriteria, crit []goimap.SortCriterion) ([]uint32, error) {
	items, err := sess.sortItems(c)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		it.keys = make([]sortKey, len(crit))
		for i, sc := range crit {
			it.keys[i] = keyOf(it, sc.Key)
		}
	}
	slices.SortStableFunc(items, func(a, b *sortItem) int {
		for i, sc := range crit {
			r := cmp.Compare(a.keys[i].s, b.keys[i].s)
			if r == 0 {
				r = cmp.Compare(a.keys[i].n, b.keys[i].n)
			}
			if sc.Reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmp.Compare(a.seq, b.seq)
	})
	nums := make([]uint32, len(items))
	for i, it := range items {
		nums[i] = it.num(kind)
	}
	return nums, nil
}

// sortItems returns the matches of c with their summaries, in sequence order.
func (sess *session) sortItems(c *imap.SearchCriteria) ([]*sortItem, error) {
	matches, err := sess.matches(c, true)
	if err != nil {
		return nil, err
	}
	items := make([]*sortItem, len(matches))
	for i, m := range matches {
		items[i] = &sortItem{seq: m.seq, uid: m.uid, e: m.e}
	}
	return items, nil
}

func (it *sortItem) num(kind goimap.NumKind) uint32 {
	if kind == goimap.NumKindUID {
		return uint32(it.uid)
	}
	return it.seq
}

// keyOf is the message's value for key (RFC 5256 §3): addresses compare by
// the first address's local part, DISPLAY* (RFC 5957 §3) by its display name
// or else its address, SUBJECT by base subject (§2.1), DATE by the sent date.
func keyOf(it *sortItem, key goimap.SortKey) sortKey {
	e := it.e
	switch key {
	case goimap.SortKeyArrival:
		return sortKey{n: e.InternalDate.UnixNano()}
	case goimap.SortKeyDate:
		return sortKey{n: sentDate(e).UnixNano()}
	case goimap.SortKeySize:
		return sortKey{n: e.Size}
	case goimap.SortKeySubject:
		base, _ := baseSubject(e.Subject)
		return sortKey{s: base}
	case goimap.SortKeyFrom:
		return sortKey{s: addrMailbox(first(e.From))}
	case goimap.SortKeyTo:
		return sortKey{s: addrMailbox(first(e.To))}
	case goimap.SortKeyCc:
		return sortKey{s: addrMailbox(first(e.Cc))}
	case goimap.SortKeyDisplayFrom:
		return sortKey{s: displayName(first(e.From))}
	case goimap.SortKeyDisplayTo:
		return sortKey{s: displayName(first(e.To))}
	}
	return sortKey{}
}

// sentDate is the Date: header's time, or INTERNALDATE when the message has
// none that parses (RFC 5256 §2.2).
func sentDate(e *mailbox.Email) time.Time {
	if e.Date.IsZero() {
		return e.InternalDate
	}
	return e.Date
}

func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

// splitAddress splits the summary's "Name <addr>" or "addr" form.
func splitAddress(a string) (name, addr string) {
	if strings.HasSuffix(a, ">") {
		if i := strings.LastIndex(a, "<"); i >= 0 {
			return strings.TrimSpace(a[:i]), a[i+1 : len(a)-1]
		}
	}
	return "", a
}

// addrMailbox is the local part of a's address, upper-cased (i;ascii-casemap, RFC 4790).
func addrMailbox(a string) string {
	_, addr := splitAddress(a)
	if i := strings.LastIndex(addr, "@"); i >= 0 {
		addr = addr[:i]
	}
	return strings.ToUpper(addr)
}

// displayName is a's display name, or its address when it has none (RFC 5957
// §3.1), upper-cased.
func displayName(a string) string {
	name, addr := splitAddress(a)
	if name == "" {
		name = addr
	}
	return strings.ToUpper(name)
}
