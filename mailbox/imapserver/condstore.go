package imapserver

// condstore.go: CONDSTORE and QRESYNC (RFC 7162). The go-imap fork parses the syntax
// (third_party/go-imap/imapserver/condstore.go); this file answers with the store's
// ModSeq and its expunge tombstones (mailbox.Store.Changes).

import (
	"cmp"
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
)

// condStore reports whether the client enabled CONDSTORE (or QRESYNC, which implies it).
func (sess *session) condStore() bool { return sess.conn.EnabledCaps().Has(imap.CapCondStore) }

// qresync reports whether the client enabled QRESYNC: expunges are then VANISHED.
func (sess *session) qresync() bool { return sess.conn.EnabledCaps().Has(imap.CapQResync) }

// writeModSeq writes a FETCH's MODSEQ and remembers the highest reported.
func (sess *session) writeModSeq(rw *goimap.FetchResponseWriter, modSeq uint64) {
	rw.WriteModSeq(modSeq)
	if v := sess.view; v != nil {
		v.modSeq = max(v.modSeq, modSeq)
	}
}

// writeFlagUpdate writes an unsolicited FETCH of e's flags, with its MODSEQ under CONDSTORE
// (RFC 7162 §3.2.4).
func (sess *session) writeFlagUpdate(w *goimap.UpdateWriter, seq uint32, e mailbox.Email) error {
	uid := imap.UID(e.UID)
	if !sess.condStore() {
		return w.WriteMessageFlags(seq, uid, imapFlags(e))
	}
	sess.view.modSeq = max(sess.view.modSeq, e.ModSeq)
	return w.WriteMessageFlagsModSeq(seq, uid, imapFlags(e), e.ModSeq)
}

// goneWriter is what reports expunges: an unsolicited update, EXPUNGE's answer or MOVE's.
type goneWriter interface {
	WriteExpunge(seq uint32) error
	WriteVanished(uids imap.UIDSet) error
}

// writeGone drops uids from the view and reports them: one VANISHED under QRESYNC
// (RFC 7162 §3.2.10), else an EXPUNGE each, by descending sequence number.
func (sess *session) writeGone(w goneWriter, uids []imap.UID) error {
	if err := sess.contextsGone(uids); err != nil { // REMOVEFROM first (RFC 5267 §4.3.4)
		return err
	}
	seqs := sess.view.removeUIDs(uids)
	if len(seqs) == 0 {
		return nil
	}
	if sess.qresync() {
		sess.view.vanished = true
		sorted := slices.Clone(uids)
		slices.Sort(sorted)
		return w.WriteVanished(uidSet(slices.Compact(sorted)))
	}
	for _, seq := range seqs {
		if err := w.WriteExpunge(seq); err != nil {
			return err
		}
	}
	return nil
}

// TaggedHighestModSeq implements goimap.SessionQResync: after VANISHED, the modseq up to
// which every change was taken from the watch (and so reported, or about to be in this
// poll), never one the client could miss a flag change below.
func (sess *session) TaggedHighestModSeq() uint64 {
	v := sess.view
	if v == nil || !v.vanished {
		return 0
	}
	v.vanished = false
	return v.changeMark
}

// Vanished implements goimap.SessionQResync: the UIDs of uids that left the folder after
// since and that the view no longer holds (one it holds is reported by a later VANISHED,
// which moves sequence numbers). When the store pruned tombstones above since, every UID
// below UIDNEXT that is not in the folder is reported, which RFC 7162 §3.2.5.2 allows.
func (sess *session) Vanished(uids imap.UIDSet, since uint64) (imap.UIDSet, error) {
	v := sess.view
	f, err := sess.store.Folder(sess.ctx, sess.user, v.folder)
	if err != nil {
		return nil, toIMAP(err)
	}
	ch, err := sess.store.Changes(sess.ctx, sess.user, v.folder, since)
	if err != nil {
		return nil, toIMAP(err)
	}
	var gone imap.UIDSet
	if ch.VanishedComplete {
		gone = uidSet(toUIDs(ch.Vanished))
	} else {
		present, err := sess.listFlags(sess.ctx, sess.user, v.folder)
		if err != nil {
			return nil, toIMAP(err)
		}
		gone = absent(present, imap.UID(f.UIDNext))
	}
	last := uint32(max(f.UIDNext, 2) - 1)
	var out imap.UIDSet
	for _, g := range gone {
		for _, k := range uids {
			lo, hi := staticRange(uint32(k.Start), uint32(k.Stop), last)
			lo, hi = max(lo, uint32(g.Start)), min(hi, uint32(g.Stop))
			if lo <= hi {
				out = append(out, v.outside(imap.UID(lo), imap.UID(hi))...)
			}
		}
	}
	return compactUIDs(out), nil
}

// outside returns [lo, hi] without the UIDs the view holds, as ranges.
func (v *view) outside(lo, hi imap.UID) imap.UIDSet {
	var set imap.UIDSet
	i := sort.Search(len(v.entries), func(i int) bool { return v.entries[i].uid >= lo })
	for ; i < len(v.entries) && v.entries[i].uid <= hi; i++ {
		if u := v.entries[i].uid; u > lo {
			set = append(set, imap.UIDRange{Start: lo, Stop: u - 1})
		}
		lo = v.entries[i].uid + 1
	}
	if lo <= hi {
		set = append(set, imap.UIDRange{Start: lo, Stop: hi})
	}
	return set
}

// compactUIDs sorts ranges and merges overlapping or adjacent ones.
func compactUIDs(set imap.UIDSet) imap.UIDSet {
	slices.SortFunc(set, func(a, b imap.UIDRange) int { return cmp.Compare(a.Start, b.Start) })
	var out imap.UIDSet
	for _, r := range set {
		if n := len(out); n > 0 && uint64(r.Start) <= uint64(out[n-1].Stop)+1 {
			out[n-1].Stop = max(out[n-1].Stop, r.Stop)
			continue
		}
		out = append(out, r)
	}
	return out
}

// absent returns the UIDs below next that are not in present (ascending UIDs) as ranges.
func absent(present []mailbox.Email, next imap.UID) imap.UIDSet {
	var set imap.UIDSet
	lo := imap.UID(1)
	for _, e := range present {
		u := imap.UID(e.UID)
		if u > lo {
			set = append(set, imap.UIDRange{Start: lo, Stop: u - 1})
		}
		lo = u + 1
	}
	if next > lo {
		set = append(set, imap.UIDRange{Start: lo, Stop: next - 1})
	}
	return set
}

func toUIDs(us []uint32) []imap.UID {
	out := make([]imap.UID, len(us))
	for i, u := range us {
		out[i] = imap.UID(u)
	}
	return out
}

// changedTargets keeps the targets changed after since (FETCH CHANGEDSINCE, a QRESYNC
// SELECT), from the store's flag-only Changes, so that the messages loaded in full are
// only those: a resync of 10 changes in 10,000 messages reads 10 records, not 10,000.
func (sess *session) changedTargets(targets []target, since uint64) ([]target, error) {
	ch, err := sess.store.Changes(sess.ctx, sess.user, sess.view.folder, since)
	if err != nil {
		return nil, toIMAP(err)
	}
	changed := make(map[string]bool, len(ch.Changed))
	for _, e := range ch.Changed {
		changed[e.ID] = true
	}
	kept := targets[:0]
	for _, t := range targets {
		if changed[t.id] {
			kept = append(kept, t)
		}
	}
	return kept, nil
}

// targetSet names targets in the kind of set the client used (MODIFIED, RFC 7162 §3.1.3).
func targetSet(numSet imap.NumSet, ts []target) imap.NumSet {
	if _, ok := numSet.(imap.UIDSet); ok {
		uids := make([]imap.UID, len(ts))
		for i, t := range ts {
			uids[i] = t.uid
		}
		return uidSet(uids)
	}
	seqs := make([]uint32, len(ts))
	for i, t := range ts {
		seqs[i] = t.seq
	}
	return seqSet(seqs)
}
