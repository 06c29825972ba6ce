package mailbox

import (
	"context"
	"fmt"
	"slices"
)

// Folders implements Store.
func (s *PebbleStore) Folders(ctx context.Context, mailbox string) ([]Folder, error) {
	addr, err := normalizeAddress(mailbox)
	if err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", mailbox, ErrNotFound)
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	if ok, err := exists(snap, mailboxKey(addr)); err != nil || !ok {
		return nil, notFoundOr(err, "mailbox "+addr)
	}
	var out []Folder
	err = s.scan(snap, folderNamePrefix(addr), func(k, v []byte) error {
		fid, err := decodeFID(v)
		if err != nil {
			return err
		}
		var r folderRecord
		if err := get(snap, folderKey(fid), &r); err != nil {
			return err
		}
		out = append(out, r.view())
		return nil
	})
	slices.SortFunc(out, func(a, b Folder) int { return folderLess(a.Name, b.Name) })
	return out, err
}

// notFoundOr returns err, or ErrNotFound about what if err is nil.
func notFoundOr(err error, what string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s: %w", what, ErrNotFound)
}

// readFolder resolves mailbox and folder names on a reader.
func (s *PebbleStore) readFolder(r reader, mailbox, name string) (string, uint64, folderRecord, error) {
	addr, err := normalizeAddress(mailbox)
	if err != nil {
		return "", 0, folderRecord{}, fmt.Errorf("mailbox %q: %w", mailbox, ErrNotFound)
	}
	n, err := normalizeFolder(name)
	if err != nil {
		return "", 0, folderRecord{}, err
	}
	fid, err := folderID(r, addr, n)
	if err != nil {
		if ok, merr := exists(r, mailboxKey(addr)); merr != nil || !ok {
			return "", 0, folderRecord{}, notFoundOr(merr, "mailbox "+addr)
		}
		return "", 0, folderRecord{}, err
	}
	var f folderRecord
	err = get(r, folderKey(fid), &f)
	return addr, fid, f, err
}

// Folder implements Store.
func (s *PebbleStore) Folder(ctx context.Context, mailbox, name string) (Folder, error) {
	_, _, f, err := s.readFolder(s.db, mailbox, name)
	if err != nil {
		return Folder{}, err
	}
	return f.view(), nil
}

// mutate runs fn in a txn on mailbox's contents under its lock and commits.
func (s *PebbleStore) mutate(ctx context.Context, mailbox string, fn func(t *txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	addr, err := normalizeAddress(mailbox)
	if err != nil {
		return fmt.Errorf("mailbox %q: %w", mailbox, ErrNotFound)
	}
	unlock := s.lock(addr)
	t := s.begin(addr)
	if err := fn(t); err != nil {
		t.abort()
		unlock()
		return err
	}
	err = t.commit()
	unlock()
	if err != nil || t.noSync {
		return err
	}
	return s.syncWAL()
}

// CreateFolder implements Store.
func (s *PebbleStore) CreateFolder(ctx context.Context, mailbox, name string) error {
	return s.CreateFolderUse(ctx, mailbox, name, "")
}

// CreateFolderUse implements Store.
func (s *PebbleStore) CreateFolderUse(ctx context.Context, mailbox, name, use string) error {
	n, err := normalizeFolder(name)
	if err != nil {
		return err
	}
	if use, err = normalizeSpecialUse(use); err != nil {
		return err
	}
	return s.mutate(ctx, mailbox, func(t *txn) error {
		if err := t.mailboxExists(); err != nil {
			return err
		}
		if ok, err := exists(t.b, folderNameKey(t.addr, n)); err != nil || ok {
			return existsOr(err, "create folder "+n)
		}
		if err := t.useFree(use); err != nil {
			return err
		}
		s.putNewFolder(t.b, t.addr, n, use)
		t.notify(Change{Folder: n, Kind: ChangeFolder})
		return nil
	})
}

// useFree refuses a special use another folder of the mailbox holds ("" is always free).
// It reads every folder record: a mailbox has few folders and CREATE is rare.
func (t *txn) useFree(use string) error {
	if use == "" {
		return nil
	}
	return t.s.scan(t.b, folderNamePrefix(t.addr), func(_, v []byte) error {
		fid, err := decodeFID(v)
		if err != nil {
			return err
		}
		f, err := t.folder(fid)
		if err != nil {
			return err
		}
		if f.SpecialUse == use {
			return useHeldError(use, f.Name)
		}
		return nil
	})
}

func existsOr(err error, what string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s: %w", what, ErrFolderExists)
}

// DeleteFolder implements Store.
func (s *PebbleStore) DeleteFolder(ctx context.Context, mailbox, name string) error {
	return s.mutate(ctx, mailbox, func(t *txn) error {
		fid, f, err := t.folderByName(name)
		if err != nil {
			return err
		}
		if f.Name == InboxName {
			return fmt.Errorf("delete %s: %w", InboxName, ErrInvalidFolder)
		}
		if err := t.removeAll(fid); err != nil {
			return err
		}
		delete(t.folders, fid)
		t.b.DeleteRange(vanishedPrefix(fid), prefixEnd(vanishedPrefix(fid)), nil)
		t.b.Delete(folderKey(fid), nil)
		t.b.Delete(folderNameKey(t.addr, f.Name), nil)
		t.changes = []Change{{Folder: f.Name, Kind: ChangeFolder}} // no per-email expunges
		return nil
	})
}

// removeAll removes every email of folder fid, pending ones included.
func (t *txn) removeAll(fid uint64) error {
	var ids []ulid
	for _, prefix := range [][]byte{uidPrefix(fid), pendingPrefix(fid)} {
		err := t.s.scan(t.b, prefix, func(k, v []byte) error {
			p, err := parseKey(k)
			if err != nil {
				return err
			}
			if p.Family == famUID {
				p.ID, err = decodeULID(v)
			}
			ids = append(ids, p.ID)
			return err
		})
		if err != nil {
			return err
		}
	}
	for _, id := range ids {
		r, err := t.email(id)
		if err == nil {
			err = t.remove(id, r)
		}
		if err != nil && !t.s.skipCorrupt(emailKey(id), err) {
			return err
		}
	}
	return nil
}

// RenameFolder implements Store.
func (s *PebbleStore) RenameFolder(ctx context.Context, mailbox, from, to string) error {
	dst, err := normalizeFolder(to)
	if err != nil {
		return err
	}
	return s.mutate(ctx, mailbox, func(t *txn) error {
		_, f, err := t.folderByName(from)
		if err != nil {
			return err
		}
		src := f.Name
		exists := func(n string) bool { ok, _ := exists(t.b, folderNameKey(t.addr, n)); return ok }
		if err := checkRename(src, dst, exists); err != nil {
			return err
		}
		return t.renameAll(src, dst)
	})
}

// renameAll renames src and its sub-folders to dst.
func (t *txn) renameAll(src, dst string) error {
	type move struct {
		fid      uint64
		old, new string
	}
	var moves []move
	err := t.s.scan(t.b, folderNamePrefix(t.addr), func(k, v []byte) error {
		p, err := parseKey(k)
		if err != nil {
			return err
		}
		fid, err := decodeFID(v)
		if nn, ok := renamed(p.Folder, src, dst); ok && err == nil {
			moves = append(moves, move{fid, p.Folder, nn})
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, m := range moves {
		r, err := t.folder(m.fid)
		if err != nil {
			return err
		}
		r.Name = m.new
		t.b.Delete(folderNameKey(t.addr, m.old), nil)
		t.b.Set(folderNameKey(t.addr, m.new), fidValue(m.fid), nil)
		t.notify(Change{Folder: m.new, Kind: ChangeFolder})
	}
	return nil
}

// SetSubscribed implements Store.
func (s *PebbleStore) SetSubscribed(ctx context.Context, mailbox, name string, on bool) error {
	return s.mutate(ctx, mailbox, func(t *txn) error {
		_, f, err := t.folderByName(name)
		if err != nil {
			return err
		}
		f.Subscribed = on
		t.notify(Change{Folder: f.Name, Kind: ChangeFolder})
		return nil
	})
}
