package imapserver

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"multimail.dev/multimail/mailbox"
)

// entry is one message as the client knows it: its sequence number is its
// index in view.entries plus one.
type entry struct {
	uid imap.UID
	id  string
}

// target is an entry addressed by a command, with its sequence number.
type target struct {
	seq uint32
	entry
}

// view is a session's snapshot of its selected folder. The session's
// methods own entries, searchRes, self and modMark (they never run
// concurrently); the watcher goroutine only appends to pending under mu.
type view struct {
	folder      string // the store's spelling
	readOnly    bool
	uidValidity uint32
	entries     []entry // ascending UID
	searchRes   imap.UIDSet
	self        map[string]int // flag changes made by this session, not to echo
	modMark     uint64         // HIGHESTMODSEQ before the last full List
	modSeq      uint64         // the highest MODSEQ reported to the client (CONDSTORE)
	changeMark  uint64         // every change up to this modseq was taken from the watch
	vanished    bool           // VANISHED was sent by the running command (QRESYNC)
	keywords    []imap.Flag    // keywords announced in FLAGS
	flagsDirty  bool           // keywords grew: send FLAGS at the next poll
	contexts    []*updateCtx   // RFC 5267 UPDATE contexts (context.go); they end with the view
	touched     []imap.UID     // flags this session's STORE changed, for the contexts
	moved       bool           // an expunge moved sequence numbers since the contexts' last evaluation

	stop context.CancelFunc
	done chan struct{} // closed when the watcher returns
	kick chan struct{} // capacity 1: wakes IDLE

	mu      sync.Mutex
	pending []mailbox.Change
	resync  bool     // the watch overflowed or the folder changed: re-List
	seenUID imap.UID // highest UID of a "new" change received
}

func newView(f mailbox.Folder, readOnly bool) *view {
	return &view{
		folder: f.Name, readOnly: readOnly, uidValidity: f.UIDValidity, modMark: f.HighestModSeq, changeMark: f.HighestModSeq,
		self: make(map[string]int), done: make(chan struct{}), kick: make(chan struct{}, 1),
	}
}

// watch forwards the folder's changes from ch (and from new watches after
// an overflow) into pending until ctx ends.
func (v *view) watch(ctx context.Context, store mailbox.Store, user string, ch <-chan mailbox.Change) {
	defer close(v.done)
	for {
		for c := range ch {
			v.push(c)
		}
		if ctx.Err() != nil {
			return
		}
		v.markResync()
		ch = store.Watch(ctx, user)
	}
}

func (v *view) push(c mailbox.Change) {
	if c.Folder != v.folder {
		return
	}
	switch c.Kind {
	case mailbox.ChangeNew, mailbox.ChangeFlags, mailbox.ChangeExpunge:
		v.mu.Lock()
		v.pending = append(v.pending, c)
		if c.Kind == mailbox.ChangeNew {
			v.seenUID = max(v.seenUID, imap.UID(c.UID))
		}
		v.mu.Unlock()
		v.wake()
	case mailbox.ChangeFolder: // deleted or renamed away: find out by listing
		v.markResync()
	}
}

func (v *view) markResync() {
	v.mu.Lock()
	v.resync = true
	v.mu.Unlock()
	v.wake()
}

func (v *view) wake() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

// awaitNew waits (briefly) until the watcher has queued the arrival of uid,
// so that a message this session added to its own folder (APPEND, COPY) is
// announced by the Poll that ends the command (RFC 9051 §6.3.12 SHOULD).
// It cannot simply be added to entries: an arrival with a lower UID may
// still be on its way. Only the session's goroutine calls it, never during
// IDLE, so it may consume kick.
func (v *view) awaitNew(ctx context.Context, uid imap.UID) {
	timeout := time.NewTimer(time.Second)
	defer timeout.Stop()
	for {
		v.mu.Lock()
		done := v.resync || v.seenUID >= uid
		v.mu.Unlock()
		if done {
			return
		}
		select {
		case <-v.kick:
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// noteKeywords records keywords of e not yet announced in FLAGS
// (RFC 9051 §7.3.5: FLAGS lists the flags in use).
func (v *view) noteKeywords(e mailbox.Email) {
	for _, k := range e.Keywords {
		if !slices.ContainsFunc(v.keywords, func(f imap.Flag) bool { return strings.EqualFold(string(f), k) }) {
			v.keywords = append(v.keywords, imap.Flag(k))
			v.flagsDirty = true
		}
	}
}

// mailboxFlags is the FLAGS response: system flags then keywords in use.
func (v *view) mailboxFlags() []imap.Flag {
	return append(systemFlags(), v.keywords...)
}

// close stops the watcher and waits for it.
func (v *view) close() {
	v.stop()
	<-v.done
}

// take returns the queued changes and whether a resync is due, emptying
// the queue. With expunges not allowed, expunges stay queued (and a resync
// stays due): their sequence numbers are not ours to drop yet.
func (v *view) take(allowExpunge bool) (changes []mailbox.Change, resync bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.resync {
		if !allowExpunge {
			return nil, false
		}
		v.resync, v.pending = false, nil
		return nil, true
	}
	if allowExpunge {
		changes, v.pending = v.pending, nil
		return changes, false
	}
	var keep []mailbox.Change
	for _, c := range v.pending {
		if c.Kind == mailbox.ChangeExpunge {
			keep = append(keep, c)
		} else {
			changes = append(changes, c)
		}
	}
	v.pending = keep
	return changes, false
}

// lastUID is the highest UID the client knows, 0 if none.
func (v *view) lastUID() imap.UID {
	if len(v.entries) == 0 {
		return 0
	}
	return v.entries[len(v.entries)-1].uid
}

// index returns the position of uid in entries, or -1.
func (v *view) index(uid imap.UID) int {
	i := sort.Search(len(v.entries), func(i int) bool { return v.entries[i].uid >= uid })
	if i < len(v.entries) && v.entries[i].uid == uid {
		return i
	}
	return -1
}

// removeUIDs drops the given UIDs and returns the sequence numbers they
// had, in descending order: reported in that order, each EXPUNGE leaves the
// sequence numbers of the next ones unchanged (RFC 9051 §7.5.1).
func (v *view) removeUIDs(uids []imap.UID) []uint32 {
	if len(uids) == 0 {
		return nil
	}
	gone := make(map[imap.UID]bool, len(uids))
	for _, u := range uids {
		gone[u] = true
	}
	var seqs []uint32
	kept := v.entries[:0]
	for i, e := range v.entries {
		if gone[e.uid] {
			seqs = append(seqs, uint32(i)+1)
			continue
		}
		kept = append(kept, e)
	}
	clear(v.entries[len(kept):])
	v.entries = kept
	slices.Reverse(seqs)
	return seqs
}

// resolve returns the entries a sequence set or UID set names, in
// ascending order. "*" is the last message (RFC 9051 §9 seq-number); "$"
// is the saved search result (RFC 5182).
func (v *view) resolve(numSet imap.NumSet) []target {
	if imap.IsSearchRes(numSet) {
		numSet = v.searchRes
	}
	var out []target
	switch set := numSet.(type) {
	case imap.SeqSet:
		n := uint32(len(v.entries))
		for _, r := range set {
			lo, hi := staticRange(r.Start, r.Stop, n)
			for seq := max(lo, 1); seq <= hi && seq <= n; seq++ {
				out = append(out, target{seq, v.entries[seq-1]})
			}
		}
	case imap.UIDSet:
		last := uint32(v.lastUID())
		for _, r := range set {
			lo, hi := staticRange(uint32(r.Start), uint32(r.Stop), last)
			i := sort.Search(len(v.entries), func(i int) bool { return uint32(v.entries[i].uid) >= lo })
			for ; i < len(v.entries) && uint32(v.entries[i].uid) <= hi; i++ {
				out = append(out, target{uint32(i) + 1, v.entries[i]})
			}
		}
	}
	return dedupe(out)
}

// checkSeq refuses a sequence set naming a message number beyond the
// client's view (RFC 9051 §9, seq-number: BAD, as Dovecot answers); a range
// reaching "*" is read as its static bounds and never refused.
func (v *view) checkSeq(numSet imap.NumSet) error {
	set, ok := numSet.(imap.SeqSet)
	if !ok || imap.IsSearchRes(numSet) {
		return nil
	}
	n := uint32(len(v.entries))
	for _, r := range set {
		if r.Start != 0 && r.Stop != 0 && max(r.Start, r.Stop) > n {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Invalid message sequence number"}
		}
	}
	return nil
}

// staticRange replaces "*" (0) by max and orders the bounds.
func staticRange(start, stop, max uint32) (uint32, uint32) {
	if start == 0 {
		start = max
	}
	if stop == 0 {
		stop = max
	}
	if start > stop {
		start, stop = stop, start
	}
	return start, stop
}

// dedupe sorts targets by sequence number and drops repeats (overlapping
// ranges such as "1:3,2").
func dedupe(ts []target) []target {
	if len(ts) < 2 {
		return ts
	}
	slices.SortFunc(ts, func(a, b target) int { return int(a.seq) - int(b.seq) })
	return slices.CompactFunc(ts, func(a, b target) bool { return a.seq == b.seq })
}

// uidSet builds a compact UID set from ascending UIDs.
func uidSet(uids []imap.UID) imap.UIDSet {
	var set imap.UIDSet
	for _, u := range uids {
		if n := len(set); n > 0 && set[n-1].Stop+1 == u {
			set[n-1].Stop = u
			continue
		}
		set = append(set, imap.UIDRange{Start: u, Stop: u})
	}
	return set
}

// seqSet builds a compact sequence set from ascending numbers.
func seqSet(nums []uint32) imap.SeqSet {
	var set imap.SeqSet
	for _, n := range nums {
		if k := len(set); k > 0 && set[k-1].Stop+1 == n {
			set[k-1].Stop = n
			continue
		}
		set = append(set, imap.SeqRange{Start: n, Stop: n})
	}
	return set
}
