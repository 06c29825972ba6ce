package mailbox

import "context"

// Policy implements Store.
func (s *MemoryStore) Policy(ctx context.Context, address string) (Policy, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mb, err := s.mailbox(address)
	if err != nil {
		return Policy{}, err
	}
	return clonePolicy(mb.policy), nil
}

// UpdateOversight implements Store.
func (s *MemoryStore) UpdateOversight(ctx context.Context, address string, fn PolicyFunc) (Mailbox, Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.mailbox(address)
	if err != nil {
		return Mailbox{}, Policy{}, err
	}
	edit, np := mb.m, clonePolicy(mb.policy)
	if err := fn(&edit, &np); err != nil {
		return Mailbox{}, Policy{}, err
	}
	nm, np, err := preparePolicy(mb.m, edit, np)
	if err != nil {
		return Mailbox{}, Policy{}, err
	}
	mb.m, mb.policy = nm, np
	return nm, clonePolicy(np), nil
}
