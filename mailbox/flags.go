package mailbox

import (
	"fmt"
	"slices"
	"strings"
)

// Keyword limits: a keyword is at most MaxKeywordLen bytes and an email carries
// at most MaxKeywords of them.
const (
	MaxKeywordLen = 64
	MaxKeywords   = 64
)

// The IMAP system flags the store keeps (RFC 9051 §2.3.2). \Recent is not
// stored (IMAP4rev2 dropped it).
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// systemFlagRank orders system flags canonically and recognises them
// case-insensitively; ok is false for anything else.
func systemFlagRank(f string) (canonical string, rank int, ok bool) {
	for i, c := range [...]string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft} {
		if strings.EqualFold(f, c) {
			return c, i, true
		}
	}
	return "", 0, false
}

// ValidateKeyword reports whether k can be an IMAP keyword and so an API tag:
// an RFC 9051 atom of printable ASCII without atom-specials
// ( ) { SP CTL % * " \ ], at most MaxKeywordLen bytes. The error wraps
// ErrInvalidKeyword.
func ValidateKeyword(k string) error {
	if k == "" || len(k) > MaxKeywordLen {
		return fmt.Errorf("%w: length of %q must be 1..%d", ErrInvalidKeyword, k, MaxKeywordLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		// RFC 9051 §9: atom-char = <any CHAR except atom-specials>.
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return fmt.Errorf("%w: %q contains %q", ErrInvalidKeyword, k, c)
		}
	}
	return nil
}

// splitFlags separates system flags (canonical spelling) from keywords,
// validating both. A "\"-word that is not a stored system flag is invalid.
func splitFlags(items []string) (flags, keywords []string, err error) {
	for _, it := range items {
		if strings.HasPrefix(it, `\`) {
			c, _, ok := systemFlagRank(it)
			if !ok {
				return nil, nil, fmt.Errorf("%w: unknown system flag %q", ErrInvalidKeyword, it)
			}
			flags = append(flags, c)
			continue
		}
		if err := ValidateKeyword(it); err != nil {
			return nil, nil, err
		}
		keywords = append(keywords, it)
	}
	return flags, keywords, nil
}

// addFold appends the items not already in list (compared case-insensitively,
// so the first spelling is kept).
func addFold(list, items []string) []string {
	for _, it := range items {
		if !containsFold(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// removeFold drops every element of list equal to an item, case-insensitively.
func removeFold(list, items []string) []string {
	return slices.DeleteFunc(list, func(x string) bool { return containsFold(items, x) })
}

// sortFlags puts system flags in canonical order.
func sortFlags(flags []string) {
	slices.SortFunc(flags, func(a, b string) int {
		_, ra, _ := systemFlagRank(a)
		_, rb, _ := systemFlagRank(b)
		return ra - rb
	})
}

// applyFlags adds then removes flags and keywords on e; changed reports
// whether anything differs. On error e is untouched.
func applyFlags(e *Email, add, remove []string) (changed bool, err error) {
	addF, addK, err := splitFlags(add)
	if err != nil {
		return false, err
	}
	remF, remK, err := splitFlags(remove)
	if err != nil {
		return false, err
	}
	flags := removeFold(addFold(slices.Clone(e.Flags), addF), remF)
	keywords := removeFold(addFold(slices.Clone(e.Keywords), addK), remK)
	if len(keywords) > MaxKeywords {
		return false, fmt.Errorf("%w: more than %d keywords", ErrInvalidKeyword, MaxKeywords)
	}
	sortFlags(flags)
	if flags == nil {
		flags = []string{}
	}
	if keywords == nil {
		keywords = []string{}
	}
	changed = !slices.Equal(flags, e.Flags) || !slices.Equal(keywords, e.Keywords)
	e.Flags, e.Keywords = flags, keywords
	return changed, nil
}

// seen reports whether e counts as read.
func (e Email) seen() bool { return containsFold(e.Flags, FlagSeen) }
