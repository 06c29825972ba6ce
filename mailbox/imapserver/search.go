package imapserver

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/textindex"
)

// Search implements goimap.Session: SEARCH and UID SEARCH, answered as
// ESEARCH by go-imap when asked (RFC 4731) or under IMAP4rev2. Criteria are
// evaluated over the folder's summaries from one List; only header fields
// the summary lacks, BODY and TEXT read the raw message.
func (sess *session) Search(kind goimap.NumKind, c *imap.SearchCriteria, o *imap.SearchOptions) (*imap.SearchData, error) {
	sess.count("SEARCH")
	matches, err := sess.matches(c, false)
	if err != nil {
		return nil, err
	}
	uids := make([]imap.UID, len(matches))
	nums := make([]uint32, len(matches))
	var modSeq uint64 // the highest of the matches, for SEARCH MODSEQ (RFC 7162 §3.1.5)
	for i, m := range matches {
		uids[i], nums[i] = m.uid, m.seq
		if m.e != nil {
			modSeq = max(modSeq, m.e.ModSeq)
		}
	}
	if o.ReturnSave {
		sess.view.searchRes = uidSet(uids)
	}
	d := searchData(kind, uids, nums)
	d.ModSeq = modSeq
	return d, nil
}

// matches returns the view's messages that match c, in sequence order. With
// summary, every match carries its summary (SORT and THREAD read it), else
// only when the criteria need it.
func (sess *session) matches(c *imap.SearchCriteria, summary bool) ([]*candidate, error) {
	v := sess.view
	sess.staticCriteria(c)
	var emails []mailbox.Email
	if summary || needsSummary(c) {
		list := sess.store.List
		if !summary && !needsMoreThanFlags(c) {
			list = sess.listFlags
		}
		var err error
		if emails, err = list(sess.ctx, sess.user, v.folder); err != nil {
			return nil, toIMAP(err)
		}
	}
	only, err := sess.textCandidates(c)
	if err != nil {
		return nil, toIMAP(err)
	}
	var out []*candidate
	j := 0
	for i, en := range v.entries {
		if only != nil {
			if _, ok := only[en.id]; !ok {
				continue // cannot contain the BODY/TEXT needles: the index says so
			}
		}
		m := &candidate{seq: uint32(i) + 1, uid: en.uid, sess: sess}
		if emails != nil {
			for j < len(emails) && imap.UID(emails[j].UID) < en.uid {
				j++
			}
			if j >= len(emails) || imap.UID(emails[j].UID) != en.uid {
				continue // expunged, not yet reported
			}
			m.e = &emails[j]
		}
		if m.match(c) {
			m.raw, m.read, m.segs, m.parsed = nil, false, nil, false // keep no message bodies beyond the match
			out = append(out, m)
		}
	}
	return out, nil
}

// textCandidates narrows a search whose top-level criteria (ANDed, not under
// NOT or OR) hold BODY or TEXT to the emails the store's full-text index
// says may contain them; nil when it cannot narrow. The matcher still
// verifies every candidate, so the answer is the same as without the index.
func (sess *session) textCandidates(c *imap.SearchCriteria) (map[string]struct{}, error) {
	ts, ok := sess.store.(mailbox.TextSearcher)
	if !ok || len(c.Body)+len(c.Text) == 0 {
		return nil, nil
	}
	needles := append(append([]string{}, c.Body...), c.Text...)
	ids, ok, err := ts.TextCandidates(sess.ctx, sess.user, needles)
	if err != nil || !ok {
		return nil, err
	}
	return ids, nil
}

func searchData(kind goimap.NumKind, uids []imap.UID, seqs []uint32) *imap.SearchData {
	d := &imap.SearchData{Count: uint32(len(uids))}
	nums := seqs
	if kind == goimap.NumKindUID {
		d.All = uidSet(uids)
		nums = make([]uint32, len(uids))
		for i, u := range uids {
			nums[i] = uint32(u)
		}
	} else {
		d.All = seqSet(seqs)
	}
	if len(nums) > 0 {
		d.Min, d.Max = nums[0], nums[len(nums)-1]
	}
	return d
}

// staticCriteria resolves "*" and "$" in the criteria's sets against the
// snapshot, so that matching needs no view.
func (sess *session) staticCriteria(c *imap.SearchCriteria) {
	v := sess.view
	for i, set := range c.SeqNum {
		n := uint32(len(v.entries))
		for k := range set {
			set[k].Start, set[k].Stop = staticRange(set[k].Start, set[k].Stop, n)
		}
		c.SeqNum[i] = set
	}
	for i, set := range c.UID {
		if imap.IsSearchRes(set) {
			c.UID[i] = v.searchRes
			continue
		}
		last := uint32(v.lastUID())
		for k := range set {
			lo, hi := staticRange(uint32(set[k].Start), uint32(set[k].Stop), last)
			set[k].Start, set[k].Stop = imap.UID(lo), imap.UID(hi)
		}
	}
	for i := range c.Not {
		sess.staticCriteria(&c.Not[i])
	}
	for i := range c.Or {
		sess.staticCriteria(&c.Or[i][0])
		sess.staticCriteria(&c.Or[i][1])
	}
}

// needsSummary reports whether matching reads more than sequence numbers
// and UIDs.
func needsSummary(c *imap.SearchCriteria) bool {
	if !c.Since.IsZero() || !c.Before.IsZero() || !c.SentSince.IsZero() || !c.SentBefore.IsZero() ||
		len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || len(c.Flag) > 0 ||
		len(c.NotFlag) > 0 || c.Larger > 0 || c.Smaller > 0 || c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if needsSummary(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if needsSummary(&c.Or[i][0]) || needsSummary(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// needsMoreThanFlags reports whether the criteria look at more of a message
// than its flags and keywords (dates, header fields, text, sizes).
func needsMoreThanFlags(c *imap.SearchCriteria) bool {
	if !c.Since.IsZero() || !c.Before.IsZero() || !c.SentSince.IsZero() || !c.SentBefore.IsZero() ||
		len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || c.Larger > 0 || c.Smaller > 0 {
		return true
	}
	for i := range c.Not {
		if needsMoreThanFlags(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if needsMoreThanFlags(&c.Or[i][0]) || needsMoreThanFlags(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// listFlags lists the folder with only UID, ID, ModSeq, flags and keywords
// filled when the store can (mailbox.FlagLister), else in full.
func (sess *session) listFlags(ctx context.Context, user, folder string) ([]mailbox.Email, error) {
	if fl, ok := sess.store.(mailbox.FlagLister); ok {
		return fl.ListFlags(ctx, user, folder)
	}
	return sess.store.List(ctx, user, folder)
}

// candidate is one message being matched; raw is loaded at most once.
type candidate struct {
	seq  uint32
	uid  imap.UID
	e    *mailbox.Email // nil when the criteria need no summary
	sess *session
	raw  []byte
	read bool
	// segs is the parsed text (BODY, TEXT), once parsed.
	segs   []textindex.Segment
	parsed bool
}

func (m *candidate) match(c *imap.SearchCriteria) bool {
	return m.matchNums(c) && m.matchSummary(c) && m.matchText(c) && m.matchLogic(c)
}

func (m *candidate) matchNums(c *imap.SearchCriteria) bool {
	for _, set := range c.SeqNum {
		if !set.Contains(m.seq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !set.Contains(m.uid) {
			return false
		}
	}
	return true
}

func (m *candidate) matchSummary(c *imap.SearchCriteria) bool {
	if m.e == nil {
		return true
	}
	e := m.e
	switch {
	case !matchDate(e.InternalDate, c.Since, c.Before):
		return false
	case (!c.SentSince.IsZero() || !c.SentBefore.IsZero()) && (e.Date.IsZero() || !matchDate(e.Date, c.SentSince, c.SentBefore)):
		return false
	case c.Larger > 0 && e.Size <= c.Larger, c.Smaller > 0 && e.Size >= c.Smaller:
		return false
	case c.ModSeq != nil && e.ModSeq < c.ModSeq.ModSeq: // RFC 7162 §3.1.5
		return false
	}
	for _, f := range c.Flag {
		if !hasFlag(e, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(e, f) {
			return false
		}
	}
	return true
}

// hasFlag: \Recent is never set (IMAP4rev2 dropped it; RFC 9051 §7.3.2
// NEW and OLD then mean "unseen and none" and "all").
func hasFlag(e *mailbox.Email, f imap.Flag) bool {
	if strings.EqualFold(string(f), `\Recent`) {
		return false
	}
	return e.HasFlag(string(f))
}

// matchDate compares dates only, ignoring time and zone (RFC 9051 §6.4.4).
func matchDate(t, since, before time.Time) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(since) {
		return false
	}
	return before.IsZero() || d.Before(before)
}

func (m *candidate) matchText(c *imap.SearchCriteria) bool {
	for _, h := range c.Header {
		if !m.matchHeader(h.Key, h.Value) {
			return false
		}
	}
	for _, s := range c.Body {
		if !textindex.Contains(m.segments(), s, false) {
			return false
		}
	}
	for _, s := range c.Text {
		if !textindex.Contains(m.segments(), s, true) {
			return false
		}
	}
	return true
}

func (m *candidate) matchLogic(c *imap.SearchCriteria) bool {
	for i := range c.Not {
		if m.match(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !m.match(&c.Or[i][0]) && !m.match(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

// matchHeader matches a header field containing value (case-insensitive;
// "" = the field is present). From, To, Cc and Subject use the summary.
func (m *candidate) matchHeader(key, value string) bool {
	var fields []string
	switch strings.ToLower(key) {
	case "from":
		fields = m.e.From
	case "to":
		fields = m.e.To
	case "cc":
		fields = m.e.Cc
	case "subject":
		if m.e.Subject != "" {
			fields = []string{m.e.Subject}
		}
	default:
		h, ok := m.header()
		if !ok {
			return false
		}
		for f := h.FieldsByKey(key); f.Next(); {
			v, err := f.Text()
			if err != nil {
				v = f.Value()
			}
			fields = append(fields, v)
		}
	}
	return containsAny(fields, value)
}

func containsAny(fields []string, value string) bool {
	if value == "" {
		return len(fields) > 0
	}
	value = strings.ToLower(value)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), value) {
			return true
		}
	}
	return false
}

// header parses only the raw message's header.
func (m *candidate) header() (gomessage.Header, bool) {
	raw := m.loadRaw()
	if raw == nil {
		return gomessage.Header{}, false
	}
	head, _ := splitMessage(raw)
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(head)))
	return gomessage.Header{Header: h}, err == nil
}

func (m *candidate) loadRaw() []byte {
	if !m.read {
		m.read = true
		raw, err := m.sess.store.Raw(m.sess.ctx, m.sess.view.entries[m.seq-1].id)
		if err == nil {
			m.raw = raw
		}
	}
	return m.raw
}

// segments extracts the raw message's searchable text once per candidate
// (textindex.Segments, the same text the store's full-text index holds).
func (m *candidate) segments() []textindex.Segment {
	if !m.parsed {
		m.parsed = true
		if raw := m.loadRaw(); raw != nil {
			m.segs = textindex.Segments(raw)
		}
	}
	return m.segs
}
