package mailbox

import "context"

// Copy implements Store. The copy shares the original's body: it adds a body
// reference (m 0d) instead of writing the bytes again.
func (s *PebbleStore) Copy(ctx context.Context, id, toFolder string) (Email, error) {
	var out Email
	_, err := s.mutateEmail(ctx, id, func(t *txn, u ulid, r *emailRecord) error {
		fid, f, err := t.folderByName(toFolder)
		if err != nil {
			return err
		}
		nid := s.ids.next()
		cp := &emailRecord{Email: cloneEmail(r.Email), Body: r.Body}
		cp.ID = nid.String()
		t.b.Set(bodyRefKey(r.Body, nid), nil, nil)
		t.count(cp.Size, 1)
		t.enqueueText(nid) // a new email id: the index maps doc numbers to ids
		if err := t.place(nid, cp, fid); err != nil {
			return err
		}
		out = cp.Email
		out.Folder = f.Name
		return nil
	})
	if err == nil {
		s.text.notify()
	}
	return out, err
}

// Move implements Store: same email ID, a new UID in toFolder.
func (s *PebbleStore) Move(ctx context.Context, id, toFolder string) (Email, error) {
	return s.mutateEmail(ctx, id, func(t *txn, u ulid, r *emailRecord) error {
		fid, _, err := t.folderByName(toFolder)
		if err != nil {
			return err
		}
		if err := t.unplace(u, r); err != nil {
			return err
		}
		return t.place(u, r, fid)
	})
}

// Release implements Store.
func (s *PebbleStore) Release(ctx context.Context, id string) error {
	_, err := s.mutateEmail(ctx, id, func(t *txn, u ulid, r *emailRecord) error {
		if !r.Pending {
			return nil
		}
		if err := t.unplace(u, r); err != nil {
			return err
		}
		r.Pending = false
		return t.place(u, r, r.FolderID)
	})
	return err
}

// Expunge implements Store.
func (s *PebbleStore) Expunge(ctx context.Context, mailbox, folder string, uids []uint32) ([]uint32, error) {
	var removed []uint32
	err := s.mutate(ctx, mailbox, func(t *txn) error {
		removed = removed[:0]
		fid, _, err := t.folderByName(folder)
		if err != nil {
			return err
		}
		doomed, err := t.deleted(fid, uids)
		if err != nil {
			return err
		}
		for _, d := range doomed {
			if err := t.remove(d.id, d.r); err != nil {
				return err
			}
			removed = append(removed, d.r.UID)
		}
		return nil
	})
	if removed == nil && err == nil {
		removed = []uint32{}
	}
	return removed, err
}

type doomedEmail struct {
	id ulid
	r  *emailRecord
}

// deleted lists the folder's \Deleted emails among uids (nil = all), by UID.
func (t *txn) deleted(fid uint64, uids []uint32) ([]doomedEmail, error) {
	want := uidSet(uids)
	var out []doomedEmail
	err := t.s.scan(t.b, uidPrefix(fid), func(k, v []byte) error {
		p, err := parseKey(k)
		if err != nil || (want != nil && !want[p.UID]) {
			return err
		}
		id, err := decodeULID(v)
		if err != nil {
			return err
		}
		r, err := t.email(id)
		if err != nil {
			return err
		}
		if containsFold(r.Flags, FlagDeleted) {
			out = append(out, doomedEmail{id, r})
		}
		return nil
	})
	return out, err
}
