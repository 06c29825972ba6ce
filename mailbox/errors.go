package mailbox

import "errors"

// Sentinel errors. Callers branch with errors.Is; the store wraps them with context.
var (
	// ErrNotFound: no such domain, mailbox, API key or email.
	ErrNotFound = errors.New("mailbox: not found")
	// ErrExists: the domain, mailbox or API key already exists.
	ErrExists = errors.New("mailbox: already exists")
	// ErrBadCredentials: Authenticate refused the address/secret pair.
	ErrBadCredentials = errors.New("mailbox: bad credentials")
	// ErrFolderExists: CreateFolder/RenameFolder target exists.
	ErrFolderExists = errors.New("mailbox: folder exists")
	// ErrNoSuchFolder: the folder does not exist in that mailbox.
	ErrNoSuchFolder = errors.New("mailbox: no such folder")
	// ErrInvalidFolder: a malformed folder name, or an operation INBOX forbids.
	ErrInvalidFolder = errors.New("mailbox: invalid folder name")
	// ErrInvalidKeyword: a tag/keyword that is not an IMAP atom, or an unknown \flag.
	ErrInvalidKeyword = errors.New("mailbox: invalid keyword")
	// ErrInvalidAddress: a malformed mailbox address or domain name.
	ErrInvalidAddress = errors.New("mailbox: invalid address")
	// ErrInvalidPolicy: a mailbox policy beyond its bounds (allowlist or rule count).
	ErrInvalidPolicy = errors.New("mailbox: invalid policy")
	// ErrInvalidOversight: an unknown oversight mode.
	ErrInvalidOversight = errors.New("mailbox: invalid oversight mode")
	// ErrInvalidCursor: a Query cursor this store did not produce.
	ErrInvalidCursor = errors.New("mailbox: invalid cursor")
	// ErrCorrupt: a stored record could not be decoded. Scans skip and log such
	// records; point lookups return this error.
	ErrCorrupt = errors.New("mailbox: corrupt record")
	// ErrSpecialUse: CreateFolderUse was given a special use a folder cannot be created
	// with (anything but \Archive \Drafts \Junk \Sent \Trash), or one another folder of
	// the mailbox already holds.
	ErrSpecialUse = errors.New("mailbox: special use not allowed")
	// ErrModified: SetFlagsIf found the email changed after the given modseq.
	ErrModified = errors.New("mailbox: modified since")
	// ErrOverQuota: a delivery refused because it would take the mailbox over its quota
	// (DeliverOptions.QuotaBytes). Temporary: the owner can make room.
	ErrOverQuota = errors.New("mailbox: over quota")
)
