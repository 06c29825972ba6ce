package mailbox

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The scopes an API key may carry. A key acts for its mailboxes (or "*", every mailbox) with
// its scopes, and never for more: mailboxes × scopes.
const (
	ScopeSend    = "send"    // send as the mailbox (send_email, SMTP submission), see its messages
	ScopeRead    = "read"    // list and read emails, see messages and approvals
	ScopeTag     = "tag"     // add and remove tags and flags
	ScopeApprove = "approve" // decide the mailbox's held sends (gated_send, gated_all)
	ScopeAdmin   = "admin"   // administer: implies read, tag and approve, never send
)

// AllScopes lists the scopes in the order they are documented.
var AllScopes = []string{ScopeSend, ScopeRead, ScopeTag, ScopeApprove, ScopeAdmin}

// AllMailboxes is the Mailboxes entry of a key that acts for every mailbox.
const AllMailboxes = "*"

// ErrInvalidScopes: an unknown scope, or scopes that separation of duties forbids together.
var ErrInvalidScopes = errors.New("mailbox: invalid API key scopes")

// ScopeHeld reports whether a key holding scopes holds scope: directly, or through "admin",
// which implies read, tag and approve. Nothing implies send: the power to send and the power
// to oversee sending are never granted by the same word.
func ScopeHeld(scopes []string, scope string) bool {
	if slices.Contains(scopes, scope) {
		return true
	}
	return scope != ScopeSend && scope != ScopeAdmin && slices.Contains(scopes, ScopeAdmin)
}

// Oversees reports whether scopes carry oversight of a mailbox (approve, or admin which
// implies it): deciding its approvals, editing its rules or allowlists, raising its mode.
func Oversees(scopes []string) bool { return ScopeHeld(scopes, ScopeApprove) }

// CheckScopes validates the scopes of a new key: each must be one of AllScopes, and send may
// not be held together with approve or admin (separation of duties: the agent that sends never
// decides its own held mail). Since a key's scopes apply to every mailbox it names (and "*"
// names them all), that is "never on the same mailbox". The error wraps ErrInvalidScopes and is
// a *ScopeError naming the offending index.
func CheckScopes(scopes []string) error {
	for i, s := range scopes {
		if !slices.Contains(AllScopes, s) {
			return &ScopeError{Index: i, Msg: "must be one of " + strings.Join(AllScopes, ", ")}
		}
	}
	if i := slices.Index(scopes, ScopeSend); i >= 0 && Oversees(scopes) {
		return &ScopeError{Index: i, Msg: "send may not be held together with approve or admin on the same mailbox (separation of duties): create one key for the agent and one for its operator"}
	}
	return nil
}

// CheckTestScopes is CheckScopes for a test key: send, read and tag only. A test key never
// decides approvals or administers, so test data never changes what a live key sees.
func CheckTestScopes(scopes []string) error {
	if err := CheckScopes(scopes); err != nil {
		return err
	}
	for i, s := range scopes {
		if s == ScopeApprove || s == ScopeAdmin {
			return &ScopeError{Index: i, Msg: "a test key holds send, read and tag only"}
		}
	}
	return nil
}

// UsableScopes are the scopes a stored key acts with. A key stored before separation of duties
// (send together with approve or admin, which CheckScopes now refuses) acts as its agent half:
// its approve and admin are inert, so it can neither decide nor mint itself an operator key.
func UsableScopes(scopes []string) []string {
	if !slices.Contains(scopes, ScopeSend) || !Oversees(scopes) {
		return scopes
	}
	return slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == ScopeApprove || s == ScopeAdmin })
}

// ScopeError is CheckScopes' error: Index is the scope at fault.
type ScopeError struct {
	Index int
	Msg   string
}

func (e *ScopeError) Error() string {
	return fmt.Sprintf("%v: scopes[%d]: %s", ErrInvalidScopes, e.Index, e.Msg)
}

func (e *ScopeError) Unwrap() error { return ErrInvalidScopes }

// ScopesWithin reports whether every scope in want is held by have (with admin's implications).
func ScopesWithin(want, have []string) bool {
	for _, s := range want {
		if !ScopeHeld(have, s) {
			return false
		}
	}
	return true
}
