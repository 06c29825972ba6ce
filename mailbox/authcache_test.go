package mailbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestAuthCacheSparesBcrypt: five logins with the same password within the TTL pay one
// bcrypt; a wrong password always pays one and never passes; after the TTL the next login
// pays again; a password change flushes at once.
func TestAuthCacheSparesBcrypt(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := NewMemoryWith(Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMailbox(ctx, Mailbox{Address: "a@example.com", PasswordHash: string(h)}); err != nil {
		t.Fatal(err)
	}
	login := func(secret string) (checks int64, err error) {
		before := bcryptChecks.Load()
		_, err = s.Authenticate(ctx, "a@example.com", secret, []string{ScopeRead})
		return bcryptChecks.Load() - before, err
	}
	for i := 0; i < 5; i++ {
		checks, err := login("pw")
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(0); i == 0 {
			want = 1
			if checks != want {
				t.Fatalf("first login: %d bcrypt checks, want 1", checks)
			}
		} else if checks != want {
			t.Fatalf("login %d: %d bcrypt checks, want 0 (cached)", i+1, checks)
		}
	}
	if checks, err := login("wrong"); !errors.Is(err, ErrBadCredentials) || checks != 1 {
		t.Fatalf("wrong password: %v after %d bcrypt checks, want ErrBadCredentials after 1", err, checks)
	}
	now = now.Add(DefaultAuthCacheTTL)
	if checks, err := login("pw"); err != nil || checks != 1 {
		t.Fatalf("after the TTL: %v, %d bcrypt checks, want 1", err, checks)
	}
	m, _ := s.Mailbox(ctx, "a@example.com")
	if err := s.UpdateMailbox(ctx, m); err != nil { // same password: still flushed
		t.Fatal(err)
	}
	if checks, err := login("pw"); err != nil || checks != 1 {
		t.Fatalf("after UpdateMailbox: %v, %d bcrypt checks, want 1 (flushed)", err, checks)
	}
}

// TestAuthCacheOff: a negative TTL turns the cache off.
func TestAuthCacheOff(t *testing.T) {
	s := NewMemoryWith(Options{AuthCacheTTL: -1})
	ctx := context.Background()
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err := s.AddMailbox(ctx, Mailbox{Address: "a@example.com", PasswordHash: string(h)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		before := bcryptChecks.Load()
		if _, err := s.Authenticate(ctx, "a@example.com", "pw", nil); err != nil {
			t.Fatal(err)
		}
		if d := bcryptChecks.Load() - before; d != 1 {
			t.Fatalf("login %d: %d bcrypt checks, want 1", i, d)
		}
	}
}
