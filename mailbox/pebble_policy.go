package mailbox

import (
	"context"
	"errors"
	"fmt"
)

// Policy implements Store.
func (s *PebbleStore) Policy(ctx context.Context, address string) (Policy, error) {
	a, err := normalizeAddress(address)
	if err != nil {
		return Policy{}, fmt.Errorf("mailbox %q: %w", address, ErrNotFound)
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	if ok, err := exists(snap, mailboxKey(a)); err != nil {
		return Policy{}, err
	} else if !ok {
		return Policy{}, fmt.Errorf("mailbox %s: %w", a, ErrNotFound)
	}
	var p Policy
	if err := get(snap, policyKey(a), &p); err != nil && !errors.Is(err, ErrNotFound) {
		return Policy{}, fmt.Errorf("policy of %s: %w", a, err)
	}
	return p, nil
}

// UpdateOversight implements Store: the mailbox (02) and its policy (0e) in one batch.
func (s *PebbleStore) UpdateOversight(ctx context.Context, address string, fn PolicyFunc) (Mailbox, Policy, error) {
	a, err := normalizeAddress(address)
	if err != nil {
		return Mailbox{}, Policy{}, fmt.Errorf("mailbox %q: %w", address, ErrNotFound)
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	var m Mailbox
	if err := get(s.db, mailboxKey(a), &m); err != nil {
		return Mailbox{}, Policy{}, fmt.Errorf("mailbox %s: %w", a, err)
	}
	var p Policy
	if err := get(s.db, policyKey(a), &p); err != nil && !errors.Is(err, ErrNotFound) {
		return Mailbox{}, Policy{}, fmt.Errorf("policy of %s: %w", a, err)
	}
	edit, np := m, clonePolicy(p)
	if err := fn(&edit, &np); err != nil {
		return Mailbox{}, Policy{}, err
	}
	nm, np, err := preparePolicy(m, edit, np)
	if err != nil {
		return Mailbox{}, Policy{}, err
	}
	b := s.db.NewBatch()
	b.Set(mailboxKey(a), encodeValue(nm), nil)
	b.Set(policyKey(a), encodeValue(np), nil)
	if err := commit(b); err != nil {
		return Mailbox{}, Policy{}, err
	}
	return nm, clonePolicy(np), nil
}
