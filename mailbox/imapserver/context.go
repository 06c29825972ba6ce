package imapserver

// context.go: CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4). The go-imap fork parses
// RETURN (CONTEXT UPDATE PARTIAL) and CANCELUPDATE and answers PARTIAL
// (third_party/go-imap/imapserver/context.go); this file keeps the UPDATE contexts of the
// selected folder and reports how their results change.
//
// A context keeps its result as UIDs in result order. At each poll that took changes it
// re-evaluates the messages those changes touched (arrivals, flag changes, this session's
// STOREs) and sends one ESEARCH with REMOVEFROM then ADDTO, after the poll's EXISTS
// (RFC 5267 §4.3.3); an expunge is reported (REMOVEFROM) before its EXPUNGE or VANISHED
// (§4.3.4). SEARCH contexts use position 0 and mailbox order, as Dovecot does (§4.3.3
// allows it); SORT contexts the positions in sort order.

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
)

// maxUpdateContexts bounds the UPDATE contexts of one session (RFC 5267 §4.3.1: at least
// one); more are answered NO [NOUPDATE]. Each costs at most one folder listing per poll
// that took changes, and a SORT context one more.
const maxUpdateContexts = 10

var _ goimap.SessionContext = (*session)(nil)

// updateCtx is one UPDATE context of the selected folder.
type updateCtx struct {
	tag      string
	kind     goimap.NumKind
	criteria *imap.SearchCriteria // as parsed: cloned before each evaluation
	sort     []goimap.SortCriterion
	// whole: the criteria name sequence numbers, "*" or "$", whose meaning moves with the
	// folder, so every message is evaluated again at each change, not only those touched.
	whole  bool
	result []imap.UID // in result order: ascending for SEARCH, sort order for SORT
}

// HasUpdate implements goimap.SessionContext.
func (sess *session) HasUpdate(tag string) bool {
	return sess.view != nil && sess.view.context(tag) >= 0
}

// StartUpdate implements goimap.SessionContext. A context that would evaluate every
// message again at each change and read message text for it (TEXT or BODY with
// sequence numbers, "*" or "$") is refused as too costly, as is an eleventh context.
func (sess *session) StartUpdate(u *goimap.UpdateContext) error {
	v := sess.view
	if v == nil || len(v.contexts) >= maxUpdateContexts {
		return goimap.ErrNoUpdate
	}
	whole := movingCriteria(u.Criteria)
	if whole && readsText(u.Criteria) {
		return goimap.ErrNoUpdate
	}
	ctx := &updateCtx{tag: u.Tag, kind: u.Kind, criteria: u.Criteria, sort: u.Sort, whole: whole}
	for _, n := range u.Result {
		uid := imap.UID(n)
		if u.Kind == goimap.NumKindSeq {
			if n == 0 || int(n) > len(v.entries) {
				continue
			}
			uid = v.entries[n-1].uid
		}
		ctx.result = append(ctx.result, uid)
	}
	v.contexts = append(v.contexts, ctx)
	return nil
}

// CancelUpdate implements goimap.SessionContext (CANCELUPDATE, RFC 5267 §4.3.5).
func (sess *session) CancelUpdate(tags []string) bool {
	v := sess.view
	if v == nil {
		return false
	}
	for _, t := range tags {
		if v.context(t) < 0 {
			return false
		}
	}
	for _, t := range tags {
		if i := v.context(t); i >= 0 {
			v.contexts = slices.Delete(v.contexts, i, i+1)
		}
	}
	return true
}

// context returns the index of the context of tag, or -1.
func (v *view) context(tag string) int {
	return slices.IndexFunc(v.contexts, func(c *updateCtx) bool { return c.tag == tag })
}

// contextsGone reports, before their EXPUNGE, that uids (still in the view) leave every
// context holding them (RFC 5267 §4.3.4).
func (sess *session) contextsGone(uids []imap.UID) error {
	v := sess.view
	if v == nil || len(v.contexts) == 0 || len(uids) == 0 {
		return nil
	}
	gone := make(map[imap.UID]bool, len(uids))
	for _, u := range uids {
		gone[u] = true
	}
	v.moved = true // sequence numbers move: contexts naming them are evaluated again
	for _, ctx := range v.contexts {
		kept := make([]imap.UID, 0, len(ctx.result))
		for _, u := range ctx.result {
			if !gone[u] {
				kept = append(kept, u)
			}
		}
		if err := sess.reportContext(ctx, kept); err != nil {
			return err
		}
	}
	return nil
}

// updateContexts re-evaluates the contexts after a poll took changes: touched are the
// UIDs whose membership may have changed; all (after a resync, or an expunge that moved
// sequence numbers) evaluates every message.
func (sess *session) updateContexts(touched []imap.UID, all bool) error {
	v := sess.view
	if v == nil {
		return nil
	}
	if len(v.contexts) == 0 {
		v.touched = nil
		return nil
	}
	touched = append(touched, v.touched...)
	moved := v.moved
	v.touched, v.moved = nil, false
	slices.Sort(touched)
	touched = slices.Compact(touched)
	for _, ctx := range v.contexts {
		whole := all || ctx.whole
		if len(touched) == 0 && !all && !(ctx.whole && moved) {
			continue // nothing it holds or could hold changed
		}
		next, err := sess.evaluate(ctx, touched, whole)
		if err != nil {
			return err
		}
		if err := sess.reportContext(ctx, next); err != nil {
			return err
		}
	}
	return nil
}

// evaluate returns ctx's result now, in result order.
func (sess *session) evaluate(ctx *updateCtx, touched []imap.UID, all bool) ([]imap.UID, error) {
	c := goimap.CloneSearchCriteria(ctx.criteria)
	if !all {
		c.UID = append(c.UID, uidSet(touched))
	}
	found, err := sess.matches(c, false)
	if err != nil {
		return nil, err
	}
	members := make(map[imap.UID]bool, len(ctx.result)+len(found))
	if !all {
		for _, u := range ctx.result {
			members[u] = true
		}
		for _, u := range touched {
			delete(members, u)
		}
	}
	for _, m := range found {
		members[m.uid] = true
	}
	var next []imap.UID
	for _, en := range sess.view.entries {
		if members[en.uid] {
			next = append(next, en.uid)
		}
	}
	if ctx.sort == nil || len(next) == 0 {
		return next, nil
	}
	nums, err := sess.sorted(goimap.NumKindUID, &imap.SearchCriteria{UID: []imap.UIDSet{uidSet(next)}}, ctx.sort)
	if err != nil {
		return nil, err
	}
	next = next[:0]
	for _, n := range nums {
		next = append(next, imap.UID(n))
	}
	return next, nil
}

// reportContext sends how ctx's result becomes next, and keeps next.
func (sess *session) reportContext(ctx *updateCtx, next []imap.UID) error {
	remove, add := contextDiff(ctx.result, next, ctx.sort == nil)
	ctx.result = next
	return sess.conn.WriteContextUpdate(ctx.tag, ctx.kind, sess.contextNums(ctx, remove), sess.contextNums(ctx, add))
}

// uidPair is a ContextPair of UIDs.
type uidPair struct {
	pos  uint32
	uids []imap.UID
}

// contextDiff is what turns old into next: the removals (each position counted after
// the removals before it), then the additions (each position in next). With mailbox
// order (a SEARCH context), one pair each, at position 0, in ascending order.
func contextDiff(old, next []imap.UID, mailboxOrder bool) (remove, add []uidPair) {
	inNext := make(map[imap.UID]bool, len(next))
	for _, u := range next {
		inNext[u] = true
	}
	inOld := make(map[imap.UID]bool, len(old))
	for _, u := range old {
		inOld[u] = true
	}
	remove = runs(old, func(u imap.UID) bool { return !inNext[u] }, true)
	add = runs(next, func(u imap.UID) bool { return !inOld[u] }, false)
	if mailboxOrder {
		remove, add = atZero(remove), atZero(add)
	}
	return remove, add
}

// runs groups the items of list that pick selects into runs of neighbours, each at its
// 1-based position; shrink counts positions as if the earlier runs were already removed.
func runs(list []imap.UID, pick func(imap.UID) bool, shrink bool) []uidPair {
	var out []uidPair
	removed := 0
	for i := 0; i < len(list); i++ {
		if !pick(list[i]) {
			continue
		}
		p := uidPair{pos: uint32(i + 1)}
		if shrink {
			p.pos -= uint32(removed)
		}
		for ; i < len(list) && pick(list[i]); i++ {
			p.uids = append(p.uids, list[i])
		}
		removed += len(p.uids)
		out = append(out, p)
	}
	return out
}

// atZero merges pairs into one at position 0, in ascending (mailbox) order.
func atZero(pairs []uidPair) []uidPair {
	if len(pairs) == 0 {
		return nil
	}
	var all []imap.UID
	for _, p := range pairs {
		all = append(all, p.uids...)
	}
	slices.Sort(all)
	return []uidPair{{pos: 0, uids: all}}
}

// contextNums numbers pairs as ctx reports them: UIDs, or sequence numbers in the view.
func (sess *session) contextNums(ctx *updateCtx, pairs []uidPair) []goimap.ContextPair {
	out := make([]goimap.ContextPair, 0, len(pairs))
	for _, p := range pairs {
		cp := goimap.ContextPair{Pos: p.pos}
		for _, u := range p.uids {
			n := uint32(u)
			if ctx.kind == goimap.NumKindSeq {
				i := sess.view.index(u)
				if i < 0 {
					continue
				}
				n = uint32(i) + 1
			}
			cp.Nums = append(cp.Nums, n)
		}
		if len(cp.Nums) > 0 {
			out = append(out, cp)
		}
	}
	return out
}

// changedUIDs are the UIDs whose context membership changes may alter: arrivals and flag
// changes (this session's too: its own STORE can move a message in or out).
func changedUIDs(changes []mailbox.Change) []imap.UID {
	var out []imap.UID
	for _, c := range changes {
		if c.Kind != mailbox.ChangeExpunge {
			out = append(out, imap.UID(c.UID))
		}
	}
	return out
}

// movingCriteria reports whether c names sequence numbers, "*" or "$": their meaning
// moves as the folder changes.
func movingCriteria(c *imap.SearchCriteria) bool {
	if len(c.SeqNum) > 0 {
		return true
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			return true
		}
		for _, r := range set {
			if r.Start == 0 || r.Stop == 0 {
				return true
			}
		}
	}
	for i := range c.Not {
		if movingCriteria(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if movingCriteria(&c.Or[i][0]) || movingCriteria(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// readsText reports whether matching c may read message text (BODY, TEXT, header fields).
func readsText(c *imap.SearchCriteria) bool {
	if len(c.Body) > 0 || len(c.Text) > 0 || len(c.Header) > 0 {
		return true
	}
	for i := range c.Not {
		if readsText(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if readsText(&c.Or[i][0]) || readsText(&c.Or[i][1]) {
			return true
		}
	}
	return false
}
