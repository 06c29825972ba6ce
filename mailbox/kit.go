package mailbox

// kit.go: what a Store implemented outside this package (mailbox/pgstore) shares with
// PebbleStore and MemoryStore, so the semantics stay one: validation and normalisation,
// IDs, UIDVALIDITY, flags, the delivery summary and threading, the Query cursor, the login
// check with its cache, and the watcher hub.

import (
	"context"
	"time"
)

// Kit is the storage-independent part of a Store, for backends outside this package.
type Kit struct{ c core }

// NewKit returns a Kit with opts (defaults applied).
func NewKit(opts Options) *Kit {
	k := &Kit{c: newCore(opts)}
	return k
}

// Options returns the options with defaults applied.
func (k *Kit) Options() Options { return k.c.opts }

// Watch implements Store.Watch on the kit's hub.
func (k *Kit) Watch(ctx context.Context, mailbox string) <-chan Change {
	return k.c.Watch(ctx, mailbox)
}

// Publish sends changes to the watchers of mailbox (a normalised address), in order. Call
// it after the commit, in commit order per mailbox.
func (k *Kit) Publish(mailbox string, changes ...Change) { k.c.hub.publish(mailbox, changes...) }

// Watching returns the mailboxes (normalised addresses) that have at least one watcher.
func (k *Kit) Watching() []string { return k.c.hub.watching() }

// Resync closes the channel of every watcher of mailbox, telling each to resynchronise (the
// Watch contract's overflow signal), for changes the backend cannot describe one by one
// (another node's).
func (k *Kit) Resync(mailbox string) { k.c.hub.resync(mailbox) }

// PrepareDomain validates and completes a Domain for AddDomain.
func (k *Kit) PrepareDomain(d Domain) (Domain, error) { return k.c.prepareDomain(d) }

// PrepareMailbox validates and completes a Mailbox for AddMailbox and UpdateMailbox.
func (k *Kit) PrepareMailbox(m Mailbox) (Mailbox, error) { return k.c.prepareMailbox(m) }

// PrepareAPIKey validates and completes an APIKey for AddAPIKey.
func (k *Kit) PrepareAPIKey(a APIKey) (APIKey, error) { return k.c.prepareAPIKey(a) }

// PreparePolicy checks what a PolicyFunc made of old (see UpdateOversight).
func PreparePolicy(old, m Mailbox, p Policy) (Mailbox, Policy, error) {
	return preparePolicy(old, m, p)
}

// ClonePolicy deep-copies p.
func ClonePolicy(p Policy) Policy { return clonePolicy(p) }

// CheckAuth decides Authenticate once the mailbox and the API key stored under the secret's
// hash (nil if none) are loaded, with the login cache in front of bcrypt.
func (k *Kit) CheckAuth(m Mailbox, secret string, key *APIKey, need []string) bool {
	return k.c.checkAuthCached(m, secret, key, need)
}

// CheckAuthMissing spends the time of a wrong password for a mailbox that does not exist.
func CheckAuthMissing(secret string) { checkPassword("", secret) }

// FlushAuth drops the login cache of address ("" = all), after a password change or a key
// revocation.
func (k *Kit) FlushAuth(address string) { k.c.auth.flush(address) }

// ValidityFloor is the lowest UIDVALIDITY a folder created now may get: the clock in Unix
// seconds. A backend hands out max(ValidityFloor, last handed out + 1).
func (k *Kit) ValidityFloor() uint32 { return uint32(k.c.opts.Now().Unix()) }

// NewEmailID returns a new email ID ("em_…", monotonic within this process).
func (k *Kit) NewEmailID() string { return k.c.ids.next().String() }

// CanonicalEmailID returns the stored spelling of an email ID (IDs are case-insensitive);
// the error wraps ErrNotFound for anything that is not one.
func CanonicalEmailID(id string) (string, error) {
	u, err := parseEmailID(id)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// NormalizeAddress lower-cases and validates a mailbox address (ErrInvalidAddress).
func NormalizeAddress(a string) (string, error) { return normalizeAddress(a) }

// NormalizeDomain lower-cases and validates a domain name (ErrInvalidAddress).
func NormalizeDomain(d string) (string, error) { return normalizeDomain(d) }

// NormalizeFolder validates a folder name and spells INBOX canonically (ErrInvalidFolder).
func NormalizeFolder(name string) (string, error) { return normalizeFolder(name) }

// CheckRename refuses renaming INBOX, onto an existing folder, or into itself.
func CheckRename(from, to string, exists func(string) bool) error {
	return checkRename(from, to, exists)
}

// Renamed maps a folder name under RenameFolder(from, to); ok is false for unrelated names.
func Renamed(name, from, to string) (string, bool) { return renamed(name, from, to) }

// NormalizeSpecialUse checks a special use CreateFolderUse accepts and spells it
// canonically ("" stays ""); errors wrap ErrSpecialUse.
func NormalizeSpecialUse(use string) (string, error) { return normalizeSpecialUse(use) }

// SpecialUseHeld is the error of CreateFolderUse when folder holder already has use.
func SpecialUseHeld(use, holder string) error { return useHeldError(use, holder) }

// DefaultFolder is one of the folders AddMailbox creates.
type DefaultFolder struct{ Name, SpecialUse string }

// DefaultFolders are the folders AddMailbox creates, INBOX first.
func DefaultFolders() []DefaultFolder {
	var out []DefaultFolder
	for _, f := range defaultFolders() {
		out = append(out, DefaultFolder{f.name, f.specialUse})
	}
	return out
}

// ApplyFlags adds then removes system flags and keywords on e (canonical spelling, system
// flags in canonical order, never nil); changed reports whether anything differs. On error
// (ErrInvalidKeyword) e is untouched.
func ApplyFlags(e *Email, add, remove []string) (changed bool, err error) {
	return applyFlags(e, add, remove)
}

// Seen reports whether e counts as read.
func (e Email) Seen() bool { return e.seen() }

// QueryLimit applies Query's default page size and cap.
func QueryLimit(n int) int { return queryLimit(n) }

// QueryCursor is the opaque cursor of a Query page ending at the email (date, id).
func QueryCursor(date time.Time, id string) string {
	u, err := parseEmailID(id)
	if err != nil {
		return ""
	}
	return sortKeyOf(date, u).cursor()
}

// ParseQueryCursor decodes a Query cursor into the InternalDate (Unix ns) and email ID of the
// last email of the previous page (ErrInvalidCursor).
func ParseQueryCursor(c string) (dateNanos int64, id string, err error) {
	k, err := parseCursor(c)
	if err != nil {
		return 0, "", err
	}
	return k.date, k.id.String(), nil
}

// Delivery is a validated delivery: the Email (ID, flags, dates, summary; no placement nor
// thread yet) and what threading needs.
type Delivery struct {
	Email Email
	id    ulid
	sum   summary
}

// NewDelivery validates a delivery and builds its Email, as Deliver does before placing it.
func (k *Kit) NewDelivery(ctx context.Context, mailbox string, raw []byte, o DeliverOptions) (*Delivery, error) {
	e, id, sum, err := k.c.newEmail(ctx, mailbox, raw, o)
	if err != nil {
		return nil, err
	}
	return &Delivery{Email: e, id: id, sum: sum}, nil
}

// ThreadIndex is what threading reads from a backend, within one mailbox.
type ThreadIndex interface {
	// ByMessageID returns the thread ("th_…") of a Message-ID seen in the mailbox.
	ByMessageID(msgID string) (thread string, ok bool, err error)
	// BySubject returns the thread last seen under a subject key and when.
	BySubject(key []byte) (thread string, at time.Time, ok bool, err error)
}

// Thread computes the delivery's ThreadID (thread.go), sets it on d.Email and returns it.
func (d *Delivery) Thread(ix ThreadIndex) (string, error) {
	t, err := assignThread(threadAdapter{ix}, d.sum, d.id, d.Email.InternalDate)
	if err != nil {
		return "", err
	}
	d.Email.ThreadID = formatThreadID(t)
	return d.Email.ThreadID, nil
}

// IndexMessageID returns the Message-ID to record in the Message-ID index (if not there yet)
// after the delivery; ok is false when it is not indexable.
func (d *Delivery) IndexMessageID() (string, bool) {
	return d.sum.MessageID, indexableMsgID(d.sum.MessageID)
}

// SubjectKey returns the key under which the subject index records the delivery's thread
// and InternalDate; ok is false when the message names no participants.
func (d *Delivery) SubjectKey() ([]byte, bool) {
	if len(d.sum.Participants) == 0 {
		return nil, false
	}
	k := subjectKey(d.sum)
	return k[:], true
}

type threadAdapter struct{ ix ThreadIndex }

func (a threadAdapter) byMessageID(msgID string) (tid, bool, error) {
	s, ok, err := a.ix.ByMessageID(msgID)
	if err != nil || !ok {
		return tid{}, false, err
	}
	t, ok := parseID(threadIDPrefix, s)
	return t, ok, nil
}

func (a threadAdapter) bySubject(key tid) (tid, time.Time, bool, error) {
	s, at, ok, err := a.ix.BySubject(key[:])
	if err != nil || !ok {
		return tid{}, time.Time{}, false, err
	}
	t, ok := parseID(threadIDPrefix, s)
	return t, at, ok, nil
}
