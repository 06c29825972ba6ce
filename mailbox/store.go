package mailbox

import "context"

// Store is the directory and the mailbox contents. Implementations: PebbleStore
// (production) and MemoryStore (tests); both pass storetest.Run. It is kept
// narrow so that a SQL backend could implement it.
//
// Addresses, domain names and keyword comparisons are case-insensitive; the
// store lower-cases addresses and domains. Folder names are case-sensitive
// except INBOX.
type Store interface {
	// AddDomain stores a domain (ErrExists if present).
	AddDomain(ctx context.Context, d Domain) error
	// Domain returns one domain (ErrNotFound).
	Domain(ctx context.Context, name string) (Domain, error)
	// Domains returns all domains ordered by name.
	Domains(ctx context.Context) ([]Domain, error)
	// SetIdentityKeys replaces the identity keys of an existing domain (ErrNotFound).
	SetIdentityKeys(ctx context.Context, domain string, keys []IdentityKey) error
	// AddMailbox stores a mailbox and creates INBOX, Sent, Drafts, Archive,
	// Trash and Junk (ErrExists if present).
	AddMailbox(ctx context.Context, m Mailbox) error
	// UpdateMailbox replaces Oversight, OversightAddress and PasswordHash of an
	// existing mailbox (ErrNotFound).
	UpdateMailbox(ctx context.Context, m Mailbox) error
	// Policy returns a mailbox's oversight policy (allowlist, API rules, pending oversight
	// request); an empty one if none was stored (ErrNotFound for no such mailbox).
	Policy(ctx context.Context, address string) (Policy, error)
	// UpdateOversight applies fn to the mailbox and its policy under the directory lock and
	// writes both in one synced batch: fn may change the mailbox's Oversight and anything in
	// the policy. An error from fn writes nothing and is returned (ErrNotFound for no such
	// mailbox, ErrInvalidAddress for a bad allowlist entry, ErrInvalidPolicy beyond bounds).
	UpdateOversight(ctx context.Context, address string, fn PolicyFunc) (Mailbox, Policy, error)
	// Mailbox returns one mailbox (ErrNotFound).
	Mailbox(ctx context.Context, address string) (Mailbox, error)
	// Mailboxes returns all mailboxes ordered by address.
	Mailboxes(ctx context.Context) ([]Mailbox, error)
	// AddAPIKey stores a key; an empty ID gets a generated "key_…" one.
	// ErrExists if the ID or the hash is present.
	AddAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash finds a key by the hex SHA-256 of its secret (ErrNotFound).
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	// APIKeys returns all keys ordered by ID.
	APIKeys(ctx context.Context) ([]APIKey, error)
	// DeleteAPIKey removes a key by ID (ErrNotFound).
	DeleteAPIKey(ctx context.Context, id string) error
	// DeleteMailbox and DeleteDomain (remove.go).
	Remover
	// Authenticate accepts the mailbox password, or an API key scoped to that mailbox (or
	// "*") that holds every scope in need: a key never grants more than it holds, so the
	// door says what it lets the key do (SMTP submission: send; IMAP: read and tag). Any
	// failure, unknown mailbox and missing scope included, is ErrBadCredentials.
	Authenticate(ctx context.Context, address, secret string, need []string) (Mailbox, error)

	// Folders returns a mailbox's folders, INBOX first then by name (ErrNotFound).
	Folders(ctx context.Context, mailbox string) ([]Folder, error)
	// Folder returns one folder (ErrNoSuchFolder).
	Folder(ctx context.Context, mailbox, name string) (Folder, error)
	// CreateFolder creates a folder with a fresh UIDVALIDITY (ErrFolderExists).
	CreateFolder(ctx context.Context, mailbox, name string) error
	// CreateFolderUse is CreateFolder giving the folder an RFC 6154 special use (IMAP
	// CREATE … USE): one of \Archive \Drafts \Junk \Sent \Trash, matched without case,
	// held by no other folder of the mailbox (else ErrSpecialUse); "" is CreateFolder.
	// The name is checked first (ErrFolderExists).
	CreateFolderUse(ctx context.Context, mailbox, name, use string) error
	// DeleteFolder removes a folder and its emails; INBOX cannot be deleted.
	// Sub-folders are kept.
	DeleteFolder(ctx context.Context, mailbox, name string) error
	// RenameFolder renames a folder and its sub-folders, keeping UIDVALIDITY
	// and emails; INBOX cannot be renamed.
	RenameFolder(ctx context.Context, mailbox, from, to string) error
	// SetSubscribed sets the IMAP subscription of a folder.
	SetSubscribed(ctx context.Context, mailbox, name string, on bool) error
	// Deliver stores raw once, parses its summary (best effort: an unparsable
	// message is still stored), assigns UID/ModSeq (UID 0 if o.Pending) and
	// commits durably (pebble.Sync) before returning.
	Deliver(ctx context.Context, mailbox, folder string, raw []byte, o DeliverOptions) (Email, error)
	// Email returns one email by ID (ErrNotFound).
	Email(ctx context.Context, id string) (Email, error)
	// Raw returns the stored message bytes of an email (ErrNotFound).
	Raw(ctx context.Context, id string) ([]byte, error)
	// List returns a folder's non-pending emails ordered by UID (IMAP view).
	List(ctx context.Context, mailbox, folder string) ([]Email, error)
	// Query returns emails newest first (InternalDate, then ID), filtered,
	// paged by an opaque cursor; nextCursor is "" on the last page.
	Query(ctx context.Context, q Query) (emails []Email, nextCursor string, err error)
	// SetFlags adds/removes system flags and keywords (keywords = tags) on one
	// email, bumps ModSeq, and notifies watchers. Returns the updated email.
	// An invalid keyword or unknown \flag fails the whole call with ErrInvalidKeyword.
	SetFlags(ctx context.Context, id string, add, remove []string) (Email, error)
	// SetFlagsIf is SetFlags only if the email's ModSeq is at most unchangedSince, checked
	// and changed in one step (IMAP STORE UNCHANGEDSINCE, RFC 7162); else ErrModified.
	SetFlagsIf(ctx context.Context, id string, add, remove []string, unchangedSince uint64) (Email, error)
	// Copy copies an email into another folder of the same mailbox: a new
	// email ID and UID, the same body, flags and keywords.
	Copy(ctx context.Context, id, toFolder string) (Email, error)
	// Move moves an email to another folder: same email ID, new UID.
	Move(ctx context.Context, id, toFolder string) (Email, error)
	// Expunge removes the folder's emails flagged \Deleted whose UID is in uids
	// (uids nil = all \Deleted ones); returns the removed UIDs in ascending order.
	Expunge(ctx context.Context, mailbox, folder string, uids []uint32) ([]uint32, error)
	// Changes returns what changed in a folder after modseq since (CONDSTORE/QRESYNC,
	// RFC 7162): the visible emails with a higher ModSeq and the UIDs that left the folder
	// since, from tombstones kept under Options.VanishedMax/VanishedAge (ErrNoSuchFolder).
	Changes(ctx context.Context, mailbox, folder string, since uint64) (FolderChanges, error)
	// Usage returns what the mailbox's emails take (ErrNotFound for no such mailbox). It is
	// a counter kept in the same write as every change, not a scan.
	Usage(ctx context.Context, mailbox string) (Usage, error)
	// Release clears Pending (gated_all) and gives the email its UID.
	Release(ctx context.Context, id string) error
	// Watch delivers change notifications for one mailbox until ctx ends, then
	// closes the channel. A watcher that falls behind by more than
	// Options.WatchBuffer changes has its channel closed early (it must resync).
	Watch(ctx context.Context, mailbox string) <-chan Change
}

// FlagLister is implemented by stores that list a folder's emails more cheaply when only
// their UID, ID, ModSeq, Flags and Keywords (and Folder) are needed: the other fields of
// the returned Emails are zero. The IMAP server uses it for SELECT and flag-only SEARCH.
type FlagLister interface {
	ListFlags(ctx context.Context, mailbox, folder string) ([]Email, error)
}
