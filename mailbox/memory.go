package mailbox

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// MemoryStore is an in-memory Store for tests, with the same semantics as
// PebbleStore (both pass storetest.Run). One RWMutex guards everything;
// watchers are notified while it is held, so changes arrive in commit order.
type MemoryStore struct {
	core
	mu        sync.RWMutex
	domains   map[string]Domain
	mailboxes map[string]*memMailbox
	keys      map[string]APIKey // by ID
	emails    map[ulid]*memEmail
	bodies    map[ulid]*memBody
}

var _ Store = (*MemoryStore)(nil)

type memMailbox struct {
	m       Mailbox
	policy  Policy
	folders map[string]*memFolder // by normalized name
	emails  map[ulid]*memEmail
	// the threading indexes (thread.go)
	msgIDs   map[string]tid
	subjects map[tid]memSubject
	usage    Usage // changed with every email added or removed (Usage)
}

// memFolder keeps Folder's fields except the counters, computed on read.
type memFolder struct {
	Folder
	emails map[ulid]*memEmail
	tombs  []Tombstone // ascending ModSeq (changes.go)
	floor  uint64      // highest ModSeq of a pruned tombstone
}

type memEmail struct {
	e      Email // Folder is filled from folder on read
	id     ulid
	folder *memFolder
	body   ulid
}

// memBody is a raw message shared by copies, freed with its last reference.
type memBody struct {
	raw  []byte
	refs int
}

// NewMemory returns an empty in-memory store with default Options.
func NewMemory() *MemoryStore { return NewMemoryWith(Options{}) }

// NewMemoryWith returns an empty in-memory store.
func NewMemoryWith(opts Options) *MemoryStore {
	return &MemoryStore{
		core:      newCore(opts),
		domains:   make(map[string]Domain),
		mailboxes: make(map[string]*memMailbox),
		keys:      make(map[string]APIKey),
		emails:    make(map[ulid]*memEmail),
		bodies:    make(map[ulid]*memBody),
	}
}

// AddDomain implements Store.
func (s *MemoryStore) AddDomain(ctx context.Context, d Domain) error {
	d, err := s.prepareDomain(d)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.domains[d.Name]; ok {
		return fmt.Errorf("add domain %s: %w", d.Name, ErrExists)
	}
	s.domains[d.Name] = d
	return nil
}

// Domain implements Store.
func (s *MemoryStore) Domain(ctx context.Context, name string) (Domain, error) {
	n, err := normalizeDomain(name)
	if err != nil {
		return Domain{}, fmt.Errorf("domain %q: %w", name, ErrNotFound)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.domains[n]
	if !ok {
		return Domain{}, fmt.Errorf("domain %s: %w", n, ErrNotFound)
	}
	d.DKIMKeyPEM = bytes.Clone(d.DKIMKeyPEM)
	d.IdentityKeys = cloneIdentityKeys(d.IdentityKeys)
	return d, nil
}

// SetIdentityKeys implements Store.
func (s *MemoryStore) SetIdentityKeys(ctx context.Context, domain string, keys []IdentityKey) error {
	n, err := normalizeDomain(domain)
	if err != nil {
		return fmt.Errorf("domain %q: %w", domain, ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.domains[n]
	if !ok {
		return fmt.Errorf("domain %s: %w", n, ErrNotFound)
	}
	d.IdentityKeys = cloneIdentityKeys(keys)
	s.domains[n] = d
	return nil
}

// Domains implements Store.
func (s *MemoryStore) Domains(ctx context.Context) ([]Domain, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Domain, 0, len(s.domains))
	for _, d := range s.domains {
		d.DKIMKeyPEM = bytes.Clone(d.DKIMKeyPEM)
		d.IdentityKeys = cloneIdentityKeys(d.IdentityKeys)
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Domain) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// AddMailbox implements Store.
func (s *MemoryStore) AddMailbox(ctx context.Context, m Mailbox) error {
	m, err := s.prepareMailbox(m)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mailboxes[m.Address]; ok {
		return fmt.Errorf("add mailbox %s: %w", m.Address, ErrExists)
	}
	mb := &memMailbox{m: m, folders: make(map[string]*memFolder), emails: make(map[ulid]*memEmail),
		msgIDs: make(map[string]tid), subjects: make(map[tid]memSubject)}
	for _, df := range defaultFolders() {
		mb.folders[df.name] = s.newFolder(df.name, df.specialUse)
	}
	s.mailboxes[m.Address] = mb
	return nil
}

func (s *MemoryStore) newFolder(name, specialUse string) *memFolder {
	return &memFolder{
		Folder: Folder{Name: name, SpecialUse: specialUse, UIDValidity: s.validity.next(),
			UIDNext: 1, HighestModSeq: 1, Subscribed: true},
		emails: make(map[ulid]*memEmail),
	}
}

// UpdateMailbox implements Store.
func (s *MemoryStore) UpdateMailbox(ctx context.Context, m Mailbox) error {
	m, err := s.prepareMailbox(m)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, ok := s.mailboxes[m.Address]
	if !ok {
		return fmt.Errorf("update mailbox %s: %w", m.Address, ErrNotFound)
	}
	m.Created = mb.m.Created
	mb.m = m
	s.auth.flush(m.Address) // a changed password logs in with bcrypt at once
	return nil
}

// Mailbox implements Store.
func (s *MemoryStore) Mailbox(ctx context.Context, address string) (Mailbox, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mb, err := s.mailbox(address)
	if err != nil {
		return Mailbox{}, err
	}
	return mb.m, nil
}

// mailbox finds a mailbox; the caller holds s.mu.
func (s *MemoryStore) mailbox(address string) (*memMailbox, error) {
	a, err := normalizeAddress(address)
	if err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", address, ErrNotFound)
	}
	mb, ok := s.mailboxes[a]
	if !ok {
		return nil, fmt.Errorf("mailbox %s: %w", a, ErrNotFound)
	}
	return mb, nil
}

// Mailboxes implements Store.
func (s *MemoryStore) Mailboxes(ctx context.Context) ([]Mailbox, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Mailbox, 0, len(s.mailboxes))
	for _, mb := range s.mailboxes {
		out = append(out, mb.m)
	}
	slices.SortFunc(out, func(a, b Mailbox) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

// AddAPIKey implements Store.
func (s *MemoryStore) AddAPIKey(ctx context.Context, k APIKey) error {
	k, err := s.prepareAPIKey(k)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("add API key %s: %w", k.ID, ErrExists)
	}
	if _, ok := s.keyByHash(k.Hash); ok {
		return fmt.Errorf("add API key %s: hash %w", k.ID, ErrExists)
	}
	s.keys[k.ID] = cloneKey(k)
	return nil
}

func (s *MemoryStore) keyByHash(hash string) (APIKey, bool) {
	for _, k := range s.keys {
		if sameHash(k.Hash, hash) {
			return cloneKey(k), true
		}
	}
	return APIKey{}, false
}

func cloneKey(k APIKey) APIKey {
	k.Mailboxes, k.Scopes = slices.Clone(k.Mailboxes), slices.Clone(k.Scopes)
	return k
}

// APIKeyByHash implements Store.
func (s *MemoryStore) APIKeyByHash(ctx context.Context, hash string) (APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keyByHash(strings.ToLower(hash))
	if !ok {
		return APIKey{}, fmt.Errorf("API key: %w", ErrNotFound)
	}
	return k, nil
}

// APIKeys implements Store.
func (s *MemoryStore) APIKeys(ctx context.Context) ([]APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]APIKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, cloneKey(k))
	}
	slices.SortFunc(out, func(a, b APIKey) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteAPIKey implements Store.
func (s *MemoryStore) DeleteAPIKey(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[id]; !ok {
		return fmt.Errorf("delete API key %s: %w", id, ErrNotFound)
	}
	delete(s.keys, id)
	s.auth.flush("") // a revoke flushes the login cache
	return nil
}

// Authenticate implements Store.
func (s *MemoryStore) Authenticate(ctx context.Context, address, secret string, need []string) (Mailbox, error) {
	s.mu.RLock()
	mb, err := s.mailbox(address)
	var m Mailbox
	if err == nil {
		m = mb.m
	}
	key, found := s.keyByHash(HashAPIKey(secret))
	s.mu.RUnlock()
	var kp *APIKey
	if found {
		kp = &key
	}
	if err != nil {
		checkPassword("", secret) // same cost as a wrong password
		return Mailbox{}, fmt.Errorf("authenticate: %w", ErrBadCredentials)
	}
	if !s.checkAuthCached(m, secret, kp, need) {
		return Mailbox{}, fmt.Errorf("authenticate %s: %w", m.Address, ErrBadCredentials)
	}
	return m, nil
}
