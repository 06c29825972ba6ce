package mailbox

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// putNew writes key=v durably unless key exists (ErrExists). The caller holds dirMu.
func (s *PebbleStore) putNew(key []byte, v any, what string) error {
	ok, err := exists(s.db, key)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("add %s: %w", what, ErrExists)
	}
	b := s.db.NewBatch()
	b.Set(key, encodeValue(v), nil)
	return commit(b)
}

// AddDomain implements Store.
func (s *PebbleStore) AddDomain(ctx context.Context, d Domain) error {
	d, err := s.prepareDomain(d)
	if err != nil {
		return err
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	return s.putNew(domainKey(d.Name), d, "domain "+d.Name)
}

// Domain implements Store.
func (s *PebbleStore) Domain(ctx context.Context, name string) (Domain, error) {
	n, err := normalizeDomain(name)
	if err != nil {
		return Domain{}, fmt.Errorf("domain %q: %w", name, ErrNotFound)
	}
	var d Domain
	if err := get(s.db, domainKey(n), &d); err != nil {
		return Domain{}, fmt.Errorf("domain %s: %w", n, err)
	}
	return d, nil
}

// SetIdentityKeys implements Store.
func (s *PebbleStore) SetIdentityKeys(ctx context.Context, domain string, keys []IdentityKey) error {
	n, err := normalizeDomain(domain)
	if err != nil {
		return fmt.Errorf("domain %q: %w", domain, ErrNotFound)
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	var d Domain
	if err := get(s.db, domainKey(n), &d); err != nil {
		return fmt.Errorf("domain %s: %w", n, err)
	}
	d.IdentityKeys = cloneIdentityKeys(keys)
	b := s.db.NewBatch()
	b.Set(domainKey(n), encodeValue(d), nil)
	return commit(b)
}

// scanAll decodes every record of a family, skipping corrupt ones.
func scanAll[T any](s *PebbleStore, family byte) ([]T, error) {
	var out []T
	err := s.scan(s.db, fam(family), func(k, v []byte) error {
		var x T
		if err := decodeValue(v, &x); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// Domains implements Store.
func (s *PebbleStore) Domains(ctx context.Context) ([]Domain, error) {
	return scanAll[Domain](s, famDomain)
}

// AddMailbox implements Store.
func (s *PebbleStore) AddMailbox(ctx context.Context, m Mailbox) error {
	m, err := s.prepareMailbox(m)
	if err != nil {
		return err
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	ok, err := exists(s.db, mailboxKey(m.Address))
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("add mailbox %s: %w", m.Address, ErrExists)
	}
	b := s.db.NewBatch()
	b.Set(mailboxKey(m.Address), encodeValue(m), nil)
	for _, df := range defaultFolders() {
		s.putNewFolder(b, m.Address, df.name, df.specialUse)
	}
	return commit(b)
}

// putNewFolder adds a folder's record and name index to b.
func (s *PebbleStore) putNewFolder(b *pebble.Batch, addr, name, specialUse string) uint64 {
	fid := s.lastFolder.Add(1)
	r := folderRecord{Mailbox: addr, Name: name, SpecialUse: specialUse, UIDValidity: s.validity.next(),
		UIDNext: 1, HighestModSeq: 1, Subscribed: true}
	b.Set(folderKey(fid), encodeValue(r), nil)
	b.Set(folderNameKey(addr, name), fidValue(fid), nil)
	return fid
}

// UpdateMailbox implements Store.
func (s *PebbleStore) UpdateMailbox(ctx context.Context, m Mailbox) error {
	m, err := s.prepareMailbox(m)
	if err != nil {
		return err
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	var old Mailbox
	if err := get(s.db, mailboxKey(m.Address), &old); err != nil {
		return fmt.Errorf("update mailbox %s: %w", m.Address, err)
	}
	m.Created = old.Created
	b := s.db.NewBatch()
	b.Set(mailboxKey(m.Address), encodeValue(m), nil)
	defer s.auth.flush(m.Address) // a changed password logs in with bcrypt at once
	return commit(b)
}

// Mailbox implements Store.
func (s *PebbleStore) Mailbox(ctx context.Context, address string) (Mailbox, error) {
	a, err := normalizeAddress(address)
	if err != nil {
		return Mailbox{}, fmt.Errorf("mailbox %q: %w", address, ErrNotFound)
	}
	var m Mailbox
	if err := get(s.db, mailboxKey(a), &m); err != nil {
		return Mailbox{}, fmt.Errorf("mailbox %s: %w", a, err)
	}
	return m, nil
}

// Mailboxes implements Store.
func (s *PebbleStore) Mailboxes(ctx context.Context) ([]Mailbox, error) {
	return scanAll[Mailbox](s, famMailbox)
}

// AddAPIKey implements Store.
func (s *PebbleStore) AddAPIKey(ctx context.Context, k APIKey) error {
	k, err := s.prepareAPIKey(k)
	if err != nil {
		return err
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	for _, key := range [][]byte{apiKeyKey(k.ID), keyHashKey(k.Hash)} {
		ok, err := exists(s.db, key)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("add API key %s: %w", k.ID, ErrExists)
		}
	}
	b := s.db.NewBatch()
	b.Set(apiKeyKey(k.ID), encodeValue(k), nil)
	b.Set(keyHashKey(k.Hash), []byte(k.ID), nil)
	return commit(b)
}

// APIKeyByHash implements Store.
func (s *PebbleStore) APIKeyByHash(ctx context.Context, hash string) (APIKey, error) {
	hash = strings.ToLower(hash)
	id, err := getRaw(s.db, keyHashKey(hash))
	if err != nil {
		return APIKey{}, fmt.Errorf("API key: %w", err)
	}
	var k APIKey
	if err := get(s.db, apiKeyKey(string(id)), &k); err != nil {
		return APIKey{}, fmt.Errorf("API key %s: %w", id, err)
	}
	if !sameHash(k.Hash, hash) {
		return APIKey{}, fmt.Errorf("API key %s: %w: hash index disagrees", id, ErrCorrupt)
	}
	return k, nil
}

// APIKeys implements Store.
func (s *PebbleStore) APIKeys(ctx context.Context) ([]APIKey, error) {
	return scanAll[APIKey](s, famAPIKey)
}

// DeleteAPIKey implements Store.
func (s *PebbleStore) DeleteAPIKey(ctx context.Context, id string) error {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	var k APIKey
	if err := get(s.db, apiKeyKey(id), &k); err != nil {
		return fmt.Errorf("delete API key %s: %w", id, err)
	}
	b := s.db.NewBatch()
	b.Delete(apiKeyKey(id), nil)
	b.Delete(keyHashKey(k.Hash), nil)
	defer s.auth.flush("") // a revoke flushes the login cache
	return commit(b)
}

// Authenticate implements Store.
func (s *PebbleStore) Authenticate(ctx context.Context, address, secret string, need []string) (Mailbox, error) {
	m, err := s.Mailbox(ctx, address)
	if err != nil {
		checkPassword("", secret) // same cost as a wrong password
		if errors.Is(err, ErrNotFound) {
			return Mailbox{}, fmt.Errorf("authenticate: %w", ErrBadCredentials)
		}
		return Mailbox{}, err
	}
	var key *APIKey
	k, err := s.APIKeyByHash(ctx, HashAPIKey(secret))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Mailbox{}, err
	}
	if err == nil {
		key = &k
	}
	if !s.checkAuthCached(m, secret, key, need) {
		return Mailbox{}, fmt.Errorf("authenticate %s: %w", m.Address, ErrBadCredentials)
	}
	return m, nil
}
