package mailbox

import (
	"context"
	"slices"
)

// pruneTombstones applies the retention rule to f's tombstones.
func (s *MemoryStore) pruneTombstones(f *memFolder) {
	n := PruneTombstones(f.tombs, s.opts.Now(), s.opts.VanishedMax, s.opts.VanishedAge)
	if n == 0 {
		return
	}
	f.floor = max(f.floor, f.tombs[n-1].ModSeq)
	f.tombs = slices.Delete(f.tombs, 0, n)
}

// Changes implements Store.
func (s *MemoryStore) Changes(ctx context.Context, mailbox, folder string, since uint64) (FolderChanges, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, f, err := s.folder(mailbox, folder)
	if err != nil {
		return FolderChanges{}, err
	}
	emails := make([]Email, 0, len(f.emails))
	for _, me := range f.emails {
		if !me.e.Pending {
			emails = append(emails, me.view())
		}
	}
	slices.SortFunc(emails, func(a, b Email) int { return int(a.UID) - int(b.UID) })
	return changesOf(f.HighestModSeq, emails, f.tombs, f.floor, since), nil
}
