package mailbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// folderLess orders folders INBOX first, then by name.
func folderLess(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == InboxName:
		return -1
	case b == InboxName:
		return 1
	}
	return strings.Compare(a, b)
}

// view returns the folder with its counters.
func (f *memFolder) view() Folder {
	out := f.Folder
	for _, me := range f.emails {
		if me.e.Pending {
			continue
		}
		out.Messages++
		if !me.e.seen() {
			out.Unseen++
		}
	}
	return out
}

// folder finds a mailbox's folder; the caller holds s.mu.
func (s *MemoryStore) folder(mailbox, name string) (*memMailbox, *memFolder, error) {
	mb, err := s.mailbox(mailbox)
	if err != nil {
		return nil, nil, err
	}
	n, err := normalizeFolder(name)
	if err != nil {
		return nil, nil, err
	}
	f, ok := mb.folders[n]
	if !ok {
		return nil, nil, fmt.Errorf("folder %s of %s: %w", n, mb.m.Address, ErrNoSuchFolder)
	}
	return mb, f, nil
}

// Folders implements Store.
func (s *MemoryStore) Folders(ctx context.Context, mailbox string) ([]Folder, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mb, err := s.mailbox(mailbox)
	if err != nil {
		return nil, err
	}
	out := make([]Folder, 0, len(mb.folders))
	for _, f := range mb.folders {
		out = append(out, f.view())
	}
	slices.SortFunc(out, func(a, b Folder) int { return folderLess(a.Name, b.Name) })
	return out, nil
}

// Folder implements Store.
func (s *MemoryStore) Folder(ctx context.Context, mailbox, name string) (Folder, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, f, err := s.folder(mailbox, name)
	if err != nil {
		return Folder{}, err
	}
	return f.view(), nil
}

// CreateFolder implements Store.
func (s *MemoryStore) CreateFolder(ctx context.Context, mailbox, name string) error {
	return s.CreateFolderUse(ctx, mailbox, name, "")
}

// CreateFolderUse implements Store.
func (s *MemoryStore) CreateFolderUse(ctx context.Context, mailbox, name, use string) error {
	n, err := normalizeFolder(name)
	if err != nil {
		return err
	}
	if use, err = normalizeSpecialUse(use); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.mailbox(mailbox)
	if err != nil {
		return err
	}
	if _, ok := mb.folders[n]; ok {
		return fmt.Errorf("create folder %s: %w", n, ErrFolderExists)
	}
	for _, f := range mb.folders {
		if use != "" && f.SpecialUse == use {
			return useHeldError(use, f.Name)
		}
	}
	mb.folders[n] = s.newFolder(n, use)
	s.hub.publish(mb.m.Address, Change{Folder: n, Kind: ChangeFolder})
	return nil
}

// DeleteFolder implements Store.
func (s *MemoryStore) DeleteFolder(ctx context.Context, mailbox, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, f, err := s.folder(mailbox, name)
	if err != nil {
		return err
	}
	if f.Name == InboxName {
		return fmt.Errorf("delete %s: %w", InboxName, ErrInvalidFolder)
	}
	for _, me := range f.emails {
		s.removeEmail(mb, me)
	}
	delete(mb.folders, f.Name)
	s.hub.publish(mb.m.Address, Change{Folder: f.Name, Kind: ChangeFolder})
	return nil
}

// RenameFolder implements Store.
func (s *MemoryStore) RenameFolder(ctx context.Context, mailbox, from, to string) error {
	t, err := normalizeFolder(to)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, f, err := s.folder(mailbox, from)
	if err != nil {
		return err
	}
	if err := checkRename(f.Name, t, func(n string) bool { _, ok := mb.folders[n]; return ok }); err != nil {
		return err
	}
	var moving []*memFolder
	for _, g := range mb.folders {
		if _, ok := renamed(g.Name, f.Name, t); ok {
			moving = append(moving, g)
		}
	}
	from = f.Name
	var changes []Change
	for _, g := range moving {
		delete(mb.folders, g.Name)
		g.Name, _ = renamed(g.Name, from, t)
		mb.folders[g.Name] = g
		changes = append(changes, Change{Folder: g.Name, Kind: ChangeFolder})
	}
	s.hub.publish(mb.m.Address, changes...)
	return nil
}

// checkRename refuses renaming INBOX, onto an existing folder, or into itself.
func checkRename(from, to string, exists func(string) bool) error {
	switch {
	case from == InboxName || to == InboxName:
		return fmt.Errorf("rename %s to %s: %w", from, to, ErrInvalidFolder)
	case strings.HasPrefix(to, from+"/"):
		return fmt.Errorf("rename %s into itself: %w", from, ErrInvalidFolder)
	case exists(to):
		return fmt.Errorf("rename %s to %s: %w", from, to, ErrFolderExists)
	}
	return nil
}

// SetSubscribed implements Store.
func (s *MemoryStore) SetSubscribed(ctx context.Context, mailbox, name string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, f, err := s.folder(mailbox, name)
	if err != nil {
		return err
	}
	f.Subscribed = on
	s.hub.publish(mb.m.Address, Change{Folder: f.Name, Kind: ChangeFolder})
	return nil
}
