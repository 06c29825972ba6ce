package mailbox

// changes.go: what CONDSTORE and QRESYNC (RFC 7162) ask of a store: the emails of a folder
// changed after a modseq, and the UIDs that left it (expunged or moved out) after a modseq,
// from expunge tombstones kept under a retention rule.

import (
	"slices"
	"time"
)

// Tombstone retention defaults (Options.VanishedMax, Options.VanishedAge).
const (
	DefaultVanishedMax = 100_000
	DefaultVanishedAge = 30 * 24 * time.Hour
)

// FolderChanges is a folder's state after a modseq (Store.Changes).
type FolderChanges struct {
	// HighestModSeq is the folder's HIGHESTMODSEQ at the time of the read.
	HighestModSeq uint64
	// Changed are the visible emails whose ModSeq is above the asked one, by UID; only
	// UID, ID, ModSeq, Flags, Keywords and Folder are filled.
	Changed []Email
	// Vanished are the UIDs that left the folder after the asked modseq, ascending.
	Vanished []uint32
	// VanishedComplete is false when tombstones above the asked modseq were pruned
	// (retention): Vanished is then partial, and a caller must take every UID below
	// UIDNext that is not in the folder as possibly vanished (RFC 7162 §3.2.5.2 allows
	// reporting UIDs the client never saw).
	VanishedComplete bool
}

// Tombstone is one UID that left a folder, with the modseq of its leaving and when.
type Tombstone struct {
	UID    uint32
	ModSeq uint64
	At     time.Time
}

// PruneTombstones applies the retention rule to a folder's tombstones, oldest (lowest
// modseq) first: it returns how many of the first to drop, keeping at most keep and none
// older than now-age. Stores outside this package use it for the same rule.
func PruneTombstones(ts []Tombstone, now time.Time, keep int, age time.Duration) int {
	n := max(0, len(ts)-keep)
	for n < len(ts) && now.Sub(ts[n].At) > age {
		n++
	}
	return n
}

// changesOf filters a folder's emails (ascending UID) and tombstones (ascending modseq)
// after since; floor is the highest modseq of a pruned tombstone.
func changesOf(highest uint64, emails []Email, ts []Tombstone, floor, since uint64) FolderChanges {
	out := FolderChanges{HighestModSeq: highest, Changed: []Email{}, Vanished: []uint32{}, VanishedComplete: since >= floor}
	for _, e := range emails {
		if e.ModSeq > since {
			out.Changed = append(out.Changed, e)
		}
	}
	for _, t := range ts {
		if t.ModSeq > since {
			out.Vanished = append(out.Vanished, t.UID)
		}
	}
	slices.Sort(out.Vanished)
	out.Vanished = slices.Compact(out.Vanished)
	return out
}

// ChangesOf is changesOf for stores outside this package.
func ChangesOf(highest uint64, emails []Email, ts []Tombstone, floor, since uint64) FolderChanges {
	return changesOf(highest, emails, ts, floor, since)
}
