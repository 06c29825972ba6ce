package mailbox

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"multimail.dev/multimail/mailbox/textindex"
)

// view returns a deep copy of the email with its folder's current name.
func (me *memEmail) view() Email {
	e := me.e
	e.Folder = me.folder.Name
	return cloneEmail(e)
}

func cloneEmail(e Email) Email {
	e.Flags, e.Keywords = slices.Clone(e.Flags), slices.Clone(e.Keywords)
	e.From, e.To, e.Cc = slices.Clone(e.From), slices.Clone(e.To), slices.Clone(e.Cc)
	return e
}

// place puts me into f: a new ModSeq and, unless pending, the next UID.
func place(f *memFolder, me *memEmail) Change {
	f.HighestModSeq++
	me.e.ModSeq = f.HighestModSeq
	me.e.UID = 0
	me.folder = f
	f.emails[me.id] = me
	if me.e.Pending {
		return Change{Folder: f.Name, Kind: ChangePending, EmailID: me.e.ID}
	}
	me.e.UID = f.UIDNext
	f.UIDNext++
	return Change{Folder: f.Name, Kind: ChangeNew, EmailID: me.e.ID, UID: me.e.UID, ModSeq: me.e.ModSeq}
}

// unplace takes me out of its folder, bumping the folder's ModSeq and, if it
// was visible, leaving a tombstone (pruned by the caller: s.pruneTombstones).
func (s *MemoryStore) unplace(me *memEmail) Change {
	f := me.folder
	delete(f.emails, me.id)
	f.HighestModSeq++
	if !me.e.Pending {
		f.tombs = append(f.tombs, Tombstone{UID: me.e.UID, ModSeq: f.HighestModSeq, At: s.opts.Now()})
	}
	return Change{Folder: f.Name, Kind: ChangeExpunge, EmailID: me.e.ID, UID: me.e.UID, ModSeq: f.HighestModSeq}
}

// removeEmail deletes me and drops its body reference.
func (s *MemoryStore) removeEmail(mb *memMailbox, me *memEmail) Change {
	c := s.unplace(me)
	mb.usage.Bytes -= me.e.Size
	mb.usage.Messages--
	delete(mb.emails, me.id)
	delete(s.emails, me.id)
	if b := s.bodies[me.body]; b != nil {
		if b.refs--; b.refs <= 0 {
			delete(s.bodies, me.body)
		}
	}
	return c
}

// Deliver implements Store.
func (s *MemoryStore) Deliver(ctx context.Context, mailbox, folder string, raw []byte, o DeliverOptions) (Email, error) {
	e, id, sum, err := s.newEmail(ctx, mailbox, raw, o)
	if err != nil {
		return Email{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, f, err := s.folder(e.Mailbox, folder)
	if err != nil {
		return Email{}, err
	}
	if err := checkQuota(mb.usage, e.Size, o.QuotaBytes); err != nil {
		return Email{}, err
	}
	th, _ := assignThread(mb, sum, id, e.InternalDate)
	e.ThreadID = formatThreadID(th)
	if indexableMsgID(sum.MessageID) {
		if _, ok := mb.msgIDs[sum.MessageID]; !ok {
			mb.msgIDs[sum.MessageID] = th
		}
	}
	if len(sum.Participants) > 0 {
		mb.subjects[subjectKey(sum)] = memSubject{th, e.InternalDate}
	}
	me := &memEmail{e: e, id: id, body: id}
	s.bodies[id] = &memBody{raw: bytes.Clone(raw), refs: 1}
	mb.usage.Bytes += e.Size
	mb.usage.Messages++
	s.emails[id], mb.emails[id] = me, me
	s.hub.publish(mb.m.Address, place(f, me))
	return me.view(), nil
}

// email finds an email and its mailbox; the caller holds s.mu.
func (s *MemoryStore) email(id string) (*memMailbox, *memEmail, error) {
	u, err := parseEmailID(id)
	if err != nil {
		return nil, nil, err
	}
	me, ok := s.emails[u]
	if !ok {
		return nil, nil, fmt.Errorf("email %s: %w", id, ErrNotFound)
	}
	return s.mailboxes[me.e.Mailbox], me, nil
}

// Email implements Store.
func (s *MemoryStore) Email(ctx context.Context, id string) (Email, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, me, err := s.email(id)
	if err != nil {
		return Email{}, err
	}
	return me.view(), nil
}

// Raw implements Store.
func (s *MemoryStore) Raw(ctx context.Context, id string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, me, err := s.email(id)
	if err != nil {
		return nil, err
	}
	b, ok := s.bodies[me.body]
	if !ok {
		return nil, fmt.Errorf("body of %s: %w", id, ErrNotFound)
	}
	return bytes.Clone(b.raw), nil
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context, mailbox, folder string) ([]Email, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, f, err := s.folder(mailbox, folder)
	if err != nil {
		return nil, err
	}
	out := make([]Email, 0, len(f.emails))
	for _, me := range f.emails {
		if !me.e.Pending {
			out = append(out, me.view())
		}
	}
	slices.SortFunc(out, func(a, b Email) int { return int(a.UID) - int(b.UID) })
	return out, nil
}

// Query implements Store.
func (s *MemoryStore) Query(ctx context.Context, q Query) ([]Email, string, error) {
	var after *sortKey
	if q.Cursor != "" {
		k, err := parseCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		after = &k
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	mb, err := s.mailbox(q.Mailbox)
	if err != nil {
		return nil, "", err
	}
	var folder *memFolder
	if q.Folder != "" {
		if _, folder, err = s.folder(q.Mailbox, q.Folder); err != nil {
			return nil, "", err
		}
	}
	var hits []*memEmail
	for _, me := range mb.emails {
		k := sortKeyOf(me.e.InternalDate, me.id)
		if (after != nil && !k.less(*after)) || (folder != nil && me.folder != folder) ||
			(q.Tag != "" && !containsFold(me.e.Keywords, q.Tag)) || !q.matchFlags(me.e) ||
			(q.ThreadID != "" && me.e.ThreadID != q.ThreadID) {
			continue
		}
		hits = append(hits, me)
	}
	slices.SortFunc(hits, func(a, b *memEmail) int {
		ka, kb := sortKeyOf(a.e.InternalDate, a.id), sortKeyOf(b.e.InternalDate, b.id)
		if kb.less(ka) {
			return -1
		}
		return 1
	})
	if q.Text != "" {
		return s.textPage(hits, q.Text, queryLimit(q.Limit))
	}
	return pageOf(hits, queryLimit(q.Limit))
}

// textPage verifies Query.Text on hits (newest first) by scanning: there is
// no index here. It stops once the page is full or the budget spent, and then
// returns a cursor, as the other stores do with Text.
func (s *MemoryStore) textPage(hits []*memEmail, text string, limit int) ([]Email, string, error) {
	lower := textindex.Lower(text)
	out := make([]Email, 0, limit)
	for i, me := range hits {
		if b := s.bodies[me.body]; b != nil && textindex.ContainsLower(textindex.Segments(b.raw), lower, true) {
			out = append(out, me.view())
		}
		if len(out) == limit || i+1 >= textScanBudget {
			return out, sortKeyOf(me.e.InternalDate, me.id).cursor(), nil
		}
	}
	return out, "", nil
}

func pageOf(hits []*memEmail, limit int) ([]Email, string, error) {
	next := ""
	if len(hits) > limit {
		hits = hits[:limit]
		last := hits[limit-1]
		next = sortKeyOf(last.e.InternalDate, last.id).cursor()
	}
	out := make([]Email, len(hits))
	for i, me := range hits {
		out[i] = me.view()
	}
	return out, next, nil
}

// SetFlags implements Store.
func (s *MemoryStore) SetFlags(ctx context.Context, id string, add, remove []string) (Email, error) {
	return s.SetFlagsIf(ctx, id, add, remove, math.MaxUint64)
}

// SetFlagsIf implements Store.
func (s *MemoryStore) SetFlagsIf(ctx context.Context, id string, add, remove []string, unchangedSince uint64) (Email, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, me, err := s.email(id)
	if err != nil {
		return Email{}, err
	}
	if me.e.ModSeq > unchangedSince {
		return Email{}, fmt.Errorf("email %s: %w", id, ErrModified)
	}
	changed, err := applyFlags(&me.e, add, remove)
	if err != nil || !changed {
		return me.view(), err
	}
	f := me.folder
	f.HighestModSeq++
	me.e.ModSeq = f.HighestModSeq
	if !me.e.Pending {
		s.hub.publish(mb.m.Address, Change{Folder: f.Name, Kind: ChangeFlags, EmailID: me.e.ID, UID: me.e.UID, ModSeq: me.e.ModSeq})
	}
	return me.view(), nil
}

// Copy implements Store.
func (s *MemoryStore) Copy(ctx context.Context, id, toFolder string) (Email, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, me, err := s.email(id)
	if err != nil {
		return Email{}, err
	}
	_, to, err := s.folder(mb.m.Address, toFolder)
	if err != nil {
		return Email{}, err
	}
	nid := s.ids.next()
	cp := &memEmail{e: cloneEmail(me.e), id: nid, body: me.body}
	cp.e.ID = nid.String()
	if b := s.bodies[me.body]; b != nil {
		b.refs++
	}
	s.emails[nid], mb.emails[nid] = cp, cp
	mb.usage.Bytes += cp.e.Size
	mb.usage.Messages++
	s.hub.publish(mb.m.Address, place(to, cp))
	return cp.view(), nil
}

// Move implements Store.
func (s *MemoryStore) Move(ctx context.Context, id, toFolder string) (Email, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, me, err := s.email(id)
	if err != nil {
		return Email{}, err
	}
	_, to, err := s.folder(mb.m.Address, toFolder)
	if err != nil {
		return Email{}, err
	}
	gone := s.unplace(me)
	s.pruneTombstones(me.folder)
	if me.e.Pending {
		gone.Kind = "" // nothing visible left
	}
	c := place(to, me)
	if gone.Kind != "" {
		s.hub.publish(mb.m.Address, gone, c)
	} else {
		s.hub.publish(mb.m.Address, c)
	}
	return me.view(), nil
}

// Expunge implements Store.
func (s *MemoryStore) Expunge(ctx context.Context, mailbox, folder string, uids []uint32) ([]uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, f, err := s.folder(mailbox, folder)
	if err != nil {
		return nil, err
	}
	want := uidSet(uids)
	var doomed []*memEmail
	for _, me := range f.emails {
		if expungeable(me.e, want) {
			doomed = append(doomed, me)
		}
	}
	slices.SortFunc(doomed, func(a, b *memEmail) int { return int(a.e.UID) - int(b.e.UID) })
	removed := make([]uint32, 0, len(doomed)) // [] rather than nil: nothing removed
	changes := make([]Change, 0, len(doomed))
	for _, me := range doomed {
		changes = append(changes, s.removeEmail(mb, me))
		removed = append(removed, me.e.UID)
	}
	s.pruneTombstones(f)
	s.hub.publish(mb.m.Address, changes...)
	return removed, nil
}

// expungeable reports whether Expunge removes e (want nil: any UID).
func expungeable(e Email, want map[uint32]bool) bool {
	if e.Pending || !containsFold(e.Flags, FlagDeleted) {
		return false
	}
	return want == nil || want[e.UID]
}

// uidSet turns Expunge's uids into a set; nil stays nil (all UIDs).
func uidSet(uids []uint32) map[uint32]bool {
	if uids == nil {
		return nil
	}
	set := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		set[u] = true
	}
	return set
}

// Release implements Store.
func (s *MemoryStore) Release(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, me, err := s.email(id)
	if err != nil || !me.e.Pending {
		return err
	}
	f := me.folder
	delete(f.emails, me.id)
	me.e.Pending = false
	s.hub.publish(mb.m.Address, place(f, me))
	return nil
}

// memSubject is an entry of the subject index (thread.go).
type memSubject struct {
	thread tid
	at     time.Time
}

// byMessageID implements threadIndex; the caller holds s.mu.
func (mb *memMailbox) byMessageID(msgID string) (tid, bool, error) {
	th, ok := mb.msgIDs[msgID]
	return th, ok, nil
}

// bySubject implements threadIndex; the caller holds s.mu.
func (mb *memMailbox) bySubject(key tid) (tid, time.Time, bool, error) {
	e, ok := mb.subjects[key]
	return e.thread, e.at, ok, nil
}

// Usage implements Store.
func (s *MemoryStore) Usage(ctx context.Context, mailbox string) (Usage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.mailbox(mailbox)
	if err != nil {
		return Usage{}, err
	}
	return mb.usage, nil
}
