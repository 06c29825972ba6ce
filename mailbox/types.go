package mailbox

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Oversight is a mailbox's oversight mode (docs/oversight-model.md).
type Oversight string

// The oversight modes.
const (
	Autonomous Oversight = "autonomous" // reads allowed, sends go out at once
	Monitored  Oversight = "monitored"  // sends go out at once and are recorded for review
	GatedSend  Oversight = "gated_send" // sends wait for approval (the default)
	GatedAll   Oversight = "gated_all"  // sends and inbound mail wait for approval
	ReadOnly   Oversight = "read_only"  // sends are refused
)

// DefaultOversight is the mode of a mailbox created without one.
const DefaultOversight = GatedSend

// ParseOversight parses a mode name; "" means DefaultOversight. An unknown name
// returns an error wrapping ErrInvalidOversight.
func ParseOversight(s string) (Oversight, error) {
	switch o := Oversight(strings.ToLower(strings.TrimSpace(s))); o {
	case "":
		return DefaultOversight, nil
	case Autonomous, Monitored, GatedSend, GatedAll, ReadOnly:
		return o, nil
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidOversight, s)
}

// Domain is a sender/recipient domain with its DKIM signing key.
type Domain struct {
	Name         string // lower-case
	DKIMSelector string // default "mm1"
	DKIMKeyPEM   []byte // PKCS#8 PEM private key, RSA or Ed25519
	// IdentityKeys are the Ed25519 keys of the identity signature (package identity), oldest
	// first: at most one "active" (it signs), "retired" ones still verify, "revoked" ones are
	// published with an empty key. Kept like DKIMKeyPEM; see SetIdentityKeys.
	IdentityKeys []IdentityKey `json:",omitempty"`
	Created      time.Time
}

// IdentityKey is one identity signing key of a domain.
type IdentityKey struct {
	Selector string // DNS label, "mmid1", "mmid2", …
	KeyPEM   []byte // PKCS#8 PEM Ed25519 private key
	Status   string // "active", "retired" or "revoked"
	Created  time.Time
}

// ActiveIdentityKey returns the key that signs, if any.
func (d Domain) ActiveIdentityKey() (IdentityKey, bool) {
	for i := len(d.IdentityKeys) - 1; i >= 0; i-- {
		if d.IdentityKeys[i].Status == IdentityActive {
			return d.IdentityKeys[i], true
		}
	}
	return IdentityKey{}, false
}

// DefaultDKIMSelector is the selector of a domain added without one.
const DefaultDKIMSelector = "mm1"

// Mailbox is one account: an address with its oversight mode and password.
type Mailbox struct {
	Address          string // lower-case local@domain; the "mailbox_id" of the API
	Oversight        Oversight
	OversightAddress string
	PasswordHash     string // bcrypt; "" = no password login (API keys only)
	Created          time.Time
}

// APIKey is a stored API key. Only the hash of the secret is kept.
type APIKey struct {
	ID        string   // "key_" + short id, shown in lists, never the secret
	Hash      string   // hex SHA-256 of the plaintext key
	Mailboxes []string // addresses the key may act for; ["*"] = all
	Scopes    []string // see AllScopes; never send together with approve or admin (CheckScopes)
	Created   time.Time
	// Test marks a test key ("mm_test_…"): its sends are validated, overseen, signed with an
	// unpublished key and journaled like any other, and never delivered (queue.Message.Test).
	// A test key holds send, read and tag at most (CheckTestScopes).
	Test bool `json:",omitempty"`
}

// AllowsMailbox reports whether the key may act for address ("*" allows all).
func (k APIKey) AllowsMailbox(address string) bool {
	for _, m := range k.Mailboxes {
		if m == "*" || strings.EqualFold(m, address) {
			return true
		}
	}
	return false
}

// HasScope reports whether the key carries scope (see ScopeHeld: admin implies read, tag and
// approve, never send).
func (k APIKey) HasScope(scope string) bool { return ScopeHeld(k.Scopes, scope) }

// Folder is one IMAP mailbox ("folder" here, to keep "mailbox" for the account).
// Counters exclude pending emails.
type Folder struct {
	Name          string // "INBOX", "Sent", "Drafts", "Archive", "Trash", "Junk", user folders ("a/b")
	SpecialUse    string // "\\Sent", "\\Drafts", "\\Archive", "\\Trash", "\\Junk", ""
	UIDValidity   uint32
	UIDNext       uint32
	Messages      uint32
	Unseen        uint32
	HighestModSeq uint64
	Subscribed    bool
}

// FolderSeparator is the hierarchy delimiter of folder names.
const FolderSeparator = '/'

// Email is one message in one folder. Pending emails (gated_all) have UID 0
// until Release gives them one.
type Email struct {
	ID           string // "em_" + ULID; stable across MOVE between folders
	Mailbox      string
	Folder       string
	UID          uint32
	ModSeq       uint64
	Flags        []string // system flags "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"; never nil
	Keywords     []string // = API tags; case-preserving, compared case-insensitively; never nil
	InternalDate time.Time
	Size         int64
	// parsed summary, filled at delivery with go-message (best effort):
	From, To, Cc []string // "Name <addr>" or "addr"
	Subject      string
	MessageID    string // without angle brackets
	Date         time.Time
	AuthResults  string // the first Authentication-Results header value, if any
	Pending      bool   // gated_all: held from the agent until approved
	// ThreadID is the conversation the email belongs to, "th_…" (thread.go); computed at
	// delivery, kept by Move and Copy; "" for emails stored before threads existed.
	ThreadID string
}

// HasFlag reports whether e carries the system flag or keyword f (case-insensitive).
func (e Email) HasFlag(f string) bool {
	return containsFold(e.Flags, f) || containsFold(e.Keywords, f)
}

// DeliverOptions are the optional parts of a delivery.
type DeliverOptions struct {
	Flags, Keywords []string  // system flags and keywords to set at once
	InternalDate    time.Time // zero = the store's clock
	Pending         bool      // hold from the agent until Release
	// NoSync commits without waiting for an fsync: the email is durable with the store's
	// next synced write (Pebble's WAL is one log). For copies whose loss in a crash costs
	// nothing, like the Sent copy of a message the queue already holds durably; it keeps the
	// mailbox's lock from spanning an fsync.
	NoSync bool
	// QuotaBytes refuses the delivery with ErrOverQuota when the mailbox's usage (Usage.Bytes)
	// plus this message would exceed it, checked and counted in the same write under the
	// mailbox's lock, so concurrent deliveries cannot overshoot together. 0 = no limit.
	QuotaBytes int64
}

// Usage is what a mailbox's emails take: the sum of their message sizes (Email.Size) and
// their number. Every email counts, pending ones and copies included (a copy counts its
// size again, even though the store keeps the bytes once): it is the figure an IMAP QUOTA
// client is told and a delivery is checked against. Deliver and Copy add to it, Expunge,
// DeleteFolder and DeleteMailbox take away, Move, Release and SetFlags leave it.
type Usage struct {
	Bytes    int64
	Messages int64
}

// Query selects emails of one mailbox, newest first.
type Query struct {
	Mailbox        string
	Folder         string // "" = all folders
	Tag            string // keyword, case-insensitive; "" = any
	ThreadID       string // "th_…"; "" = any
	Unread         *bool  // true: without \Seen; false: with \Seen; nil: both
	Limit          int    // default DefaultQueryLimit, at most MaxQueryLimit
	Cursor         string // opaque, from a previous Query; "" = from the newest
	IncludePending bool
	// Text keeps the emails whose decoded text holds it, case-insensitively,
	// exactly as IMAP SEARCH TEXT (textindex.Contains over header field values
	// and text/* and message/* bodies); "" = any. Every returned email was
	// verified against its raw message. With Text a store stops as soon as the
	// page is full, or once it has verified TextScanBudget emails: so a page
	// with Text may be short, even empty, and still have a cursor, and only an
	// empty cursor says the end. PebbleStore verifies only its full-text
	// index's candidates; MemoryStore and pgstore verify every email they
	// scan, newest first.
	Text string
}

// TextScanBudget is the most emails one Query with Text verifies (parses and
// searches) before it returns what it has with a cursor: it bounds the
// request when the index cannot narrow (a needle under three bytes, a store
// without the index) and the needle is rare.
const TextScanBudget = 5000

// Query page sizes.
const (
	DefaultQueryLimit = 50
	MaxQueryLimit     = 200
)

// Change kinds.
const (
	ChangeNew     = "new"     // an email appeared in Folder with UID
	ChangeFlags   = "flags"   // an email's flags or keywords changed
	ChangeExpunge = "expunge" // UID was removed from Folder
	ChangeFolder  = "folder"  // Folder was created, deleted, renamed or (un)subscribed
	ChangePending = "pending" // a held email (UID 0) arrived; it is "new" on Release
)

// Change is one notification sent to watchers of a mailbox.
type Change struct {
	Folder  string
	Kind    string // one of the Change* constants
	EmailID string
	UID     uint32
	ModSeq  uint64 // the folder's modseq of the change (new, flags, expunge); 0 for the others
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Identity key states (package identity serves them in its key set).
const (
	IdentityActive  = "active"
	IdentityRetired = "retired"
	IdentityRevoked = "revoked"
)

// RotateIdentityKeys returns keys with the active key retired and a new active key keyPEM
// appended under the next selector ("mmid1", "mmid2", …, one past the highest in keys).
func RotateIdentityKeys(keys []IdentityKey, keyPEM []byte, now time.Time) []IdentityKey {
	out := make([]IdentityKey, 0, len(keys)+1)
	next := 1
	for _, k := range keys {
		if k.Status == IdentityActive {
			k.Status = IdentityRetired
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(k.Selector, "mmid")); err == nil && n >= next {
			next = n + 1
		}
		out = append(out, k)
	}
	return append(out, IdentityKey{Selector: "mmid" + strconv.Itoa(next), KeyPEM: keyPEM, Status: IdentityActive, Created: now.UTC()})
}
