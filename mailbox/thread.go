package mailbox

import (
	"crypto/sha256"
	"encoding/binary"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Threads. Every delivered email gets a ThreadID ("th_" + 26 Crockford base32 characters),
// computed once at delivery under the mailbox's lock and kept by Move and Copy:
//
//  1. the thread of the first message named by References (root first) or In-Reply-To that
//     this mailbox has seen (the Message-ID index), else of the email's own Message-ID if seen;
//  2. else, only when the subject starts with a reply or forward prefix (Re:, Fwd:, Fw:, Aw:,
//     Sv:, Wg:), the thread of the latest email with the same base subject between exactly
//     the same participants (From, To, Cc) within ThreadSubjectWindow. Plain subjects never
//     match by subject, so every "Your login code" stays its own thread;
//  3. else a new thread: the hash of its root Message-ID (the first of References, else
//     In-Reply-To, else its own), or of the email ID when it has none.
//
// Hashing the root rather than drawing a random ID means two mailboxes that see the same
// conversation compute the same ID, and a reply that arrives before its parent still lands
// in the parent's thread when References is complete.
//
// Threading reads headers the sender wrote: a message can claim to belong to a thread. It
// groups mail for reading; it grants nothing.

// ThreadSubjectWindow bounds the subject fallback: a "Re:" joins a thread by subject only if
// the thread had mail between the same participants less than this long before.
const ThreadSubjectWindow = 14 * 24 * time.Hour

const (
	threadIDPrefix = "th_"
	maxMsgIDLen    = 500 // longer Message-IDs are not indexed
	maxRefs        = 50  // References beyond this are ignored
)

// tid is the raw 16-byte form of a thread ID.
type tid = ulid

func formatThreadID(t tid) string { return formatID(threadIDPrefix, t) }

// ParseThreadID reports whether s is a well-formed thread ID.
func ParseThreadID(s string) bool {
	_, ok := parseID(threadIDPrefix, s)
	return ok
}

func hashThread(parts ...string) tid {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var t tid
	copy(t[:], h.Sum(nil))
	return t
}

var replyPrefix = regexp.MustCompile(`(?i)^\s*(?:(?:re|fwd?|aw|sv|wg)\s*(?:\[\d+\])?\s*:\s*)+`)

// baseSubject strips reply/forward prefixes and folds case and white space; reply reports
// whether there was a prefix.
func baseSubject(subject string) (base string, reply bool) {
	loc := replyPrefix.FindStringIndex(subject)
	if loc != nil {
		subject, reply = subject[loc[1]:], true
	}
	return strings.ToLower(strings.Join(strings.Fields(subject), " ")), reply
}

// subjectKey is the subject index's key for an email: its base subject and its sorted
// participants.
func subjectKey(s summary) tid {
	base, _ := baseSubject(s.Subject)
	p := slices.Clone(s.Participants)
	slices.Sort(p)
	return hashThread(append([]string{"subject", base}, p...)...)
}

// threadIndex is what threading reads from a store, within one mailbox.
type threadIndex interface {
	// byMessageID returns the thread of a Message-ID seen in the mailbox.
	byMessageID(msgID string) (tid, bool, error)
	// bySubject returns the thread last seen under a subject key and when.
	bySubject(key tid) (tid, time.Time, bool, error)
}

// assignThread computes the thread of a new email (see the comment at the top of the file).
func assignThread(ix threadIndex, s summary, id ulid, date time.Time) (tid, error) {
	for _, ref := range s.Refs {
		if t, ok, err := ix.byMessageID(ref); err != nil || ok {
			return t, err
		}
	}
	if s.MessageID != "" && len(s.MessageID) <= maxMsgIDLen {
		if t, ok, err := ix.byMessageID(s.MessageID); err != nil || ok {
			return t, err
		}
	}
	if _, reply := baseSubject(s.Subject); reply && len(s.Participants) > 0 {
		t, at, ok, err := ix.bySubject(subjectKey(s))
		if err != nil {
			return tid{}, err
		}
		if ok && date.Sub(at) < ThreadSubjectWindow && at.Sub(date) < ThreadSubjectWindow {
			return t, nil
		}
	}
	switch {
	case len(s.Refs) > 0:
		return hashThread("msgid", s.Refs[0]), nil
	case s.MessageID != "" && len(s.MessageID) <= maxMsgIDLen:
		return hashThread("msgid", s.MessageID), nil
	}
	return hashThread("email", string(id[:])), nil
}

// threadable reports whether the Message-ID can be indexed.
func indexableMsgID(id string) bool {
	return id != "" && len(id) <= maxMsgIDLen && !strings.ContainsRune(id, 0)
}
