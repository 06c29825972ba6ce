package mailbox

import (
	"fmt"
	"strings"
)

// creatableUses are the RFC 6154 special uses a folder may be created with: each marks
// one real folder. \All and \Flagged name virtual folders (a view over the others),
// which the store does not have, so they are refused like any unknown attribute.
func creatableUses() []string {
	return []string{`\Archive`, `\Drafts`, `\Junk`, `\Sent`, `\Trash`}
}

// normalizeSpecialUse spells use canonically ("" stays ""): IMAP attributes are
// case-insensitive, the store keeps one spelling. Errors wrap ErrSpecialUse.
func normalizeSpecialUse(use string) (string, error) {
	if use == "" {
		return "", nil
	}
	for _, u := range creatableUses() {
		if strings.EqualFold(use, u) {
			return u, nil
		}
	}
	return "", fmt.Errorf("%w: %q cannot be set", ErrSpecialUse, use)
}

// useHeldError reports that use already marks folder holder: one folder per use, so a
// client looking for the Sent or Trash folder by its attribute finds exactly one.
func useHeldError(use, holder string) error {
	return fmt.Errorf("%w: %s is already held by %q", ErrSpecialUse, use, holder)
}
