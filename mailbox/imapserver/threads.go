package imapserver

import (
	"bufio"
	"bytes"
	"cmp"
	"slices"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Thread implements goimap.SessionThread: THREAD and UID THREAD with
// ORDEREDSUBJECT and REFERENCES (RFC 5256 §4), over the messages matching c.
func (sess *session) Thread(kind goimap.NumKind, alg imap.ThreadAlgorithm, c *imap.SearchCriteria) ([]goimap.ThreadNode, error) {
	sess.count("THREAD")
	items, err := sess.sortItems(c)
	if err != nil {
		return nil, err
	}
	var roots []*container
	if alg == imap.ThreadReferences {
		roots = threadReferences(items, sess.threadRefs)
	} else {
		roots = threadOrderedSubject(items)
	}
	out := make([]goimap.ThreadNode, len(roots))
	for i, r := range roots {
		out[i] = r.node(kind)
	}
	return out, nil
}

// container is a node of a thread tree; item is nil for a dummy (a message
// referenced but not in the answer).
type container struct {
	item     *sortItem
	parent   *container
	children []*container
	subject  string // base subject, for step 5 of REFERENCES
	reply    bool
}

func (c *container) node(kind goimap.NumKind) goimap.ThreadNode {
	n := goimap.ThreadNode{Children: make([]goimap.ThreadNode, len(c.children))}
	if c.item != nil {
		n.Num = c.item.num(kind)
	}
	for i, ch := range c.children {
		n.Children[i] = ch.node(kind)
	}
	return n
}

// threadOrderedSubject groups the messages by base subject; each group is
// its earliest message with the others as its children in sent-date order,
// and groups are ordered by the date of their first message (RFC 5256 §4).
func threadOrderedSubject(items []*sortItem) []*container {
	subj := make(map[string]*container)
	var roots []*container
	for _, it := range sortedByDate(items) {
		base, _ := baseSubject(it.e.Subject)
		c := &container{item: it}
		if root, ok := subj[base]; ok {
			c.parent = root
			root.children = append(root.children, c)
			continue
		}
		subj[base] = c
		roots = append(roots, c)
	}
	return roots
}

// sortedByDate orders items by sent date, then sequence number (RFC 5256 §2.2).
func sortedByDate(items []*sortItem) []*sortItem {
	out := slices.Clone(items)
	slices.SortStableFunc(out, func(a, b *sortItem) int {
		if r := sentDate(a.e).Compare(sentDate(b.e)); r != 0 {
			return r
		}
		return cmp.Compare(a.seq, b.seq)
	})
	return out
}

// msgRefs is what THREAD=REFERENCES reads of a message's header.
type msgRefs struct {
	refs []string // References, else the first of In-Reply-To
}

// threadRefs reads the References (else In-Reply-To) of a message, cached by
// email ID: a stored message never changes.
func (sess *session) threadRefs(it *sortItem) []string {
	if r, ok := sess.refsCache[it.e.ID]; ok {
		return r.refs
	}
	var r msgRefs
	raw, err := sess.store.Raw(sess.ctx, it.e.ID)
	if err == nil {
		r.refs = parseRefs(raw)
	}
	if sess.refsCache == nil || len(sess.refsCache) >= maxRefsCache {
		sess.refsCache = make(map[string]msgRefs)
	}
	sess.refsCache[it.e.ID] = r
	return r.refs
}

// maxRefsCache bounds a session's cache of message references.
const maxRefsCache = 200_000

// parseRefs returns the message IDs of References, or else the first of
// In-Reply-To (RFC 5256 §4 step 1).
func parseRefs(raw []byte) []string {
	head, _ := splitMessage(raw)
	th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return nil
	}
	h := mail.Header{Header: gomessage.Header{Header: th}}
	if refs, err := h.MsgIDList("References"); err == nil && len(refs) > 0 {
		return refs
	}
	if irt, err := h.MsgIDList("In-Reply-To"); err == nil && len(irt) > 0 {
		return irt[:1]
	}
	return nil
}

// threadReferences is RFC 5256 §4's REFERENCES algorithm (after JWZ): link
// messages by Message-ID and References, prune dummies, merge roots with the
// same base subject, and sort siblings by sent date.
func threadReferences(items []*sortItem, refsOf func(*sortItem) []string) []*container {
	ids := make(map[string]*container)
	var all []*container
	get := func(id string) *container {
		c, ok := ids[id]
		if !ok {
			c = &container{}
			ids[id] = c
			all = append(all, c)
		}
		return c
	}
	for _, it := range items {
		linkMessage(it, refsOf(it), ids, get, &all)
	}
	var roots []*container
	for _, c := range all {
		if c.parent == nil {
			roots = append(roots, c)
		}
	}
	roots = prune(roots, nil)
	roots = mergeSubjects(roots)
	sortThreads(roots)
	return roots
}

// linkMessage is step 1: the message's own container (a fresh one when its
// Message-ID is missing or already taken), its References chained parent to
// child where that makes no loop and breaks no existing link, and the last
// reference as its parent.
func linkMessage(it *sortItem, refs []string, ids map[string]*container, get func(string) *container, all *[]*container) {
	var c *container
	if id := it.e.MessageID; id != "" {
		if c = get(id); c.item != nil {
			c = nil // duplicate Message-ID: this one is unique
		}
	}
	if c == nil {
		c = &container{}
		*all = append(*all, c)
	}
	c.item = it
	var prev *container
	for _, ref := range refs {
		rc := get(ref)
		if prev != nil && rc.parent == nil && canLink(prev, rc) {
			link(prev, rc)
		}
		prev = rc
	}
	if c.parent != nil {
		unlink(c)
	}
	if prev != nil && canLink(prev, c) {
		link(prev, c)
	}
}

// canLink reports whether making child a child of parent makes no loop:
// child is not parent and not one of its ancestors.
func canLink(parent, child *container) bool {
	for p := parent; p != nil; p = p.parent {
		if p == child {
			return false
		}
	}
	return true
}

func link(parent, child *container) {
	child.parent = parent
	parent.children = append(parent.children, child)
}

func unlink(c *container) {
	p := c.parent
	p.children = slices.DeleteFunc(p.children, func(x *container) bool { return x == c })
	c.parent = nil
}

// prune is step 4: a dummy without children goes; a dummy with children
// gives them to its parent, except at the root with more than one child.
func prune(list []*container, parent *container) []*container {
	var out []*container
	for _, c := range list {
		c.children = prune(c.children, c)
		if c.item == nil {
			if len(c.children) == 0 {
				continue
			}
			if parent != nil || len(c.children) == 1 {
				for _, ch := range c.children {
					ch.parent = parent
				}
				out = append(out, c.children...)
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// mergeSubjects is step 5: roots whose base subjects match are gathered
// under one parent.
func mergeSubjects(roots []*container) []*container {
	table := make(map[string]*container)
	for _, r := range roots {
		src := r
		if r.item == nil {
			src = r.children[0]
		}
		r.subject, r.reply = baseSubject(src.item.e.Subject)
		if r.subject == "" {
			continue
		}
		old, ok := table[r.subject]
		if !ok || (r.item == nil && old.item != nil) || (old.item != nil && r.item != nil && old.reply && !r.reply) {
			table[r.subject] = r
		}
	}
	var out []*container
	for _, r := range roots {
		t, ok := table[r.subject]
		if r.subject == "" || !ok || t == r {
			out = append(out, r)
			continue
		}
		switch {
		case t.item == nil && r.item == nil:
			for _, ch := range r.children {
				link(t, ch)
			}
		case t.item == nil:
			link(t, r)
		case r.reply && !t.reply:
			link(t, r)
		default:
			d := &container{subject: t.subject}
			idx := slices.Index(out, t)
			t.parent = nil
			link(d, t)
			link(d, r)
			table[r.subject] = d
			if idx >= 0 {
				out[idx] = d
			} else {
				roots = replace(roots, t, d)
			}
		}
	}
	return out
}

// replace puts d in t's place in list (a table entry met later in the loop).
func replace(list []*container, t, d *container) []*container {
	if i := slices.Index(list, t); i >= 0 {
		list[i] = d
	}
	return list
}

// sortThreads is step 6: siblings by sent date, a dummy by its first child's.
func sortThreads(list []*container) {
	for _, c := range list {
		sortThreads(c.children)
	}
	slices.SortStableFunc(list, func(a, b *container) int {
		ia, ib := a.first(), b.first()
		if r := sentDate(ia.e).Compare(sentDate(ib.e)); r != 0 {
			return r
		}
		return cmp.Compare(ia.seq, ib.seq)
	})
}

// first is the message that stands for c when sorting: its own, or its first
// child's for a dummy.
func (c *container) first() *sortItem {
	for c.item == nil {
		c = c.children[0]
	}
	return c.item
}
