package mailbox

// remove.go: deleting a mailbox (with its folders and stored mail) and a domain (Remover,
// part of Store).

import (
	"context"
	"fmt"
	"strings"
)

// Removal says what DeleteMailbox removed.
type Removal struct {
	Folders int // folders removed, INBOX included
	Emails  int // emails removed (pending ones included)
}

// Remover deletes mailboxes and domains; every Store is one.
type Remover interface {
	// DeleteMailbox removes a mailbox, every folder and every email in it (bodies no other
	// email references go with them). API keys are not touched. ErrNotFound if absent.
	DeleteMailbox(ctx context.Context, address string) (Removal, error)
	// DeleteDomain removes a domain (its DKIM and identity keys). It refuses with ErrExists
	// while a mailbox of the domain exists. ErrNotFound if absent.
	DeleteDomain(ctx context.Context, name string) error
}

var (
	_ Remover = (*PebbleStore)(nil)
	_ Remover = (*MemoryStore)(nil)
)

// DeleteMailbox implements Remover. Keys: 02, 11, and per folder 05 + 06 and its emails as in
// DeleteFolder; one batch, durable before it returns.
func (s *PebbleStore) DeleteMailbox(ctx context.Context, address string) (Removal, error) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	var res Removal
	err := s.mutate(ctx, address, func(t *txn) error {
		if err := t.mailboxExists(); err != nil {
			return err
		}
		type folder struct {
			name string
			fid  uint64
		}
		var fs []folder
		err := s.scan(t.b, folderNamePrefix(t.addr), func(k, v []byte) error {
			fid, err := decodeFID(v)
			if err != nil {
				return err
			}
			fs = append(fs, folder{name: string(k[len(folderNamePrefix(t.addr)):]), fid: fid})
			return nil
		})
		if err != nil {
			return err
		}
		for _, f := range fs {
			r, err := t.folder(f.fid)
			if err != nil {
				return err
			}
			res.Emails += int(r.Messages)
			n, err := t.countPending(f.fid)
			if err != nil {
				return err
			}
			res.Emails += n
			if err := t.removeAll(f.fid); err != nil {
				return err
			}
			delete(t.folders, f.fid)
			t.b.DeleteRange(vanishedPrefix(f.fid), prefixEnd(vanishedPrefix(f.fid)), nil)
			t.b.Delete(folderKey(f.fid), nil)
			t.b.Delete(folderNameKey(t.addr, f.name), nil)
			t.notify(Change{Folder: f.name, Kind: ChangeFolder})
			res.Folders++
		}
		t.b.Delete(mailboxKey(t.addr), nil)
		// A mailbox made again with this address must not inherit the allowlist and rules.
		t.b.Delete(policyKey(t.addr), nil)
		t.usage.drop = true
		return nil
	})
	if err != nil {
		return Removal{}, fmt.Errorf("delete mailbox %s: %w", address, err)
	}
	return res, nil
}

// countPending counts the pending (gated_all, UID 0) emails of a folder.
func (t *txn) countPending(fid uint64) (int, error) {
	n := 0
	err := t.s.scan(t.b, pendingPrefix(fid), func(_, _ []byte) error { n++; return nil })
	return n, err
}

// DeleteDomain implements Remover (key 01).
func (s *PebbleStore) DeleteDomain(ctx context.Context, name string) error {
	n, err := normalizeDomain(name)
	if err != nil {
		return fmt.Errorf("domain %q: %w", name, ErrNotFound)
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if ok, err := exists(s.db, domainKey(n)); err != nil || !ok {
		return notFoundOr(err, "domain "+n)
	}
	ms, err := s.Mailboxes(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if strings.HasSuffix(m.Address, "@"+n) {
			return fmt.Errorf("delete domain %s: mailbox %s: %w", n, m.Address, ErrExists)
		}
	}
	b := s.db.NewBatch()
	b.Delete(domainKey(n), nil)
	return commit(b)
}

// DeleteMailbox implements Remover.
func (s *MemoryStore) DeleteMailbox(ctx context.Context, address string) (Removal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.mailbox(address)
	if err != nil {
		return Removal{}, err
	}
	res := Removal{Emails: len(mb.emails)}
	for name, f := range mb.folders {
		for _, me := range f.emails {
			s.removeEmail(mb, me)
		}
		delete(mb.folders, name)
		res.Folders++
		s.hub.publish(mb.m.Address, Change{Folder: name, Kind: ChangeFolder})
	}
	delete(s.mailboxes, mb.m.Address)
	return res, nil
}

// DeleteDomain implements Remover.
func (s *MemoryStore) DeleteDomain(ctx context.Context, name string) error {
	n, err := normalizeDomain(name)
	if err != nil {
		return fmt.Errorf("domain %q: %w", name, ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.domains[n]; !ok {
		return fmt.Errorf("domain %s: %w", n, ErrNotFound)
	}
	for a := range s.mailboxes {
		if strings.HasSuffix(a, "@"+n) {
			return fmt.Errorf("delete domain %s: mailbox %s: %w", n, a, ErrExists)
		}
	}
	delete(s.domains, n)
	return nil
}

// RenewUIDValidity gives every folder a new UIDVALIDITY, above every value handed out before
// (in practice the current time in seconds). A node restored from a backup calls it before
// serving: the node the backup came from may have handed out the same UIDs for other messages
// after the backup, so IMAP clients must drop what they cached (RFC 9051 §2.3.1.1). It returns
// how many folders it renewed; one synced batch.
func (s *PebbleStore) RenewUIDValidity(ctx context.Context) (int, error) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	b := s.db.NewBatch()
	n := 0
	err := s.scan(s.db, fam(famFolder), func(k, v []byte) error {
		var r folderRecord
		if err := decodeValue(v, &r); err != nil {
			return err
		}
		r.UIDValidity = s.validity.next()
		b.Set(append([]byte(nil), k...), encodeValue(r), nil)
		n++
		return nil
	})
	if err != nil {
		b.Close()
		return 0, fmt.Errorf("renew UIDVALIDITY: %w", err)
	}
	return n, commit(b)
}
