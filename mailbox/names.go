package mailbox

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// InboxName is the one folder every mailbox has and cannot lose.
const InboxName = "INBOX"

// MaxFolderNameLen caps folder names (bytes).
const MaxFolderNameLen = 255

// defaultFolder is one of the folders AddMailbox creates.
type defaultFolder struct{ name, specialUse string }

// defaultFolders are created with every mailbox (RFC 6154 special-use).
func defaultFolders() []defaultFolder {
	return []defaultFolder{
		{InboxName, ""},
		{"Sent", `\Sent`},
		{"Drafts", `\Drafts`},
		{"Archive", `\Archive`},
		{"Trash", `\Trash`},
		{"Junk", `\Junk`},
	}
}

// normalizeFolder validates a folder name and spells INBOX (and an INBOX/
// prefix) canonically; other names are case-sensitive. Errors wrap
// ErrInvalidFolder.
func normalizeFolder(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %q: %s", ErrInvalidFolder, name, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxFolderNameLen:
		return bad("too long")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.ContainsAny(name, "*%"):
		return bad("wildcard character")
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//"):
		return bad("empty hierarchy level")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return bad("control character")
		}
	}
	first, rest, hasRest := strings.Cut(name, "/")
	if strings.EqualFold(first, InboxName) {
		if hasRest {
			return InboxName + "/" + rest, nil
		}
		return InboxName, nil
	}
	return name, nil
}

// renamed maps name under a RenameFolder(from, to): the folder itself and its
// sub-folders move; ok is false for unrelated names.
func renamed(name, from, to string) (string, bool) {
	if name == from {
		return to, true
	}
	if rest, ok := strings.CutPrefix(name, from+"/"); ok {
		return to + "/" + rest, true
	}
	return "", false
}

// normalizeAddress lower-cases and validates a mailbox address (local@domain).
func normalizeAddress(addr string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(addr))
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" || len(a) > 254 || badChars(a) {
		return "", fmt.Errorf("%w: %q", ErrInvalidAddress, addr)
	}
	if _, err := normalizeDomain(domain); err != nil {
		return "", fmt.Errorf("%w: %q", ErrInvalidAddress, addr)
	}
	return a, nil
}

// normalizeDomain lower-cases and validates a domain name (no trailing dot).
func normalizeDomain(name string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if d == "" || len(d) > 253 || strings.Contains(d, "@") || badChars(d) {
		return "", fmt.Errorf("%w: domain %q", ErrInvalidAddress, name)
	}
	return d, nil
}

// badChars reports spaces, controls, separators of our keys (0x00), and
// characters no address needs.
func badChars(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune(`<>()[]\,;:"`, r)
	})
}
