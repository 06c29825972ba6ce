package mailbox_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"multimail.dev/multimail/mailbox"
)

func TestScopeHeld(t *testing.T) {
	t.Parallel()
	cases := []struct {
		have  []string
		scope string
		want  bool
	}{
		{[]string{"admin"}, "read", true},
		{[]string{"admin"}, "tag", true},
		{[]string{"admin"}, "approve", true},
		{[]string{"admin"}, "send", false}, // admin never implies send
		{[]string{"approve"}, "admin", false},
		{[]string{"approve"}, "read", false},
		{[]string{"send"}, "send", true},
		{nil, "read", false},
	}
	for _, tc := range cases {
		if got := mailbox.ScopeHeld(tc.have, tc.scope); got != tc.want {
			t.Errorf("ScopeHeld(%v, %s) = %v, want %v", tc.have, tc.scope, got, tc.want)
		}
	}
}

func TestCheckScopes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		scopes []string
		index  int // -1: valid
	}{
		{[]string{"send", "read", "tag"}, -1},
		{[]string{"approve", "admin"}, -1},
		{[]string{"read", "approve"}, -1},
		{nil, -1},
		{[]string{"send", "admin"}, 0},
		{[]string{"read", "approve", "send"}, 2},
		{[]string{"read", "root"}, 1},
	}
	for _, tc := range cases {
		err := mailbox.CheckScopes(tc.scopes)
		var se *mailbox.ScopeError
		switch {
		case tc.index < 0 && err != nil:
			t.Errorf("%v: %v", tc.scopes, err)
		case tc.index >= 0 && (!errors.As(err, &se) || se.Index != tc.index || !errors.Is(err, mailbox.ErrInvalidScopes)):
			t.Errorf("%v: %v, want a ScopeError at %d", tc.scopes, err, tc.index)
		}
	}
}

// TestStoreRefusesSendWithOversight: no door (API, CLI, config) can store such a key.
func TestStoreRefusesSendWithOversight(t *testing.T) {
	t.Parallel()
	s := mailbox.NewMemory()
	_, hash := mailbox.NewAPIKeySecret()
	err := s.AddAPIKey(context.Background(), mailbox.APIKey{Hash: hash, Mailboxes: []string{"*"}, Scopes: []string{"send", "admin"}})
	if !errors.Is(err, mailbox.ErrInvalidScopes) {
		t.Fatalf("AddAPIKey(send+admin) = %v, want ErrInvalidScopes", err)
	}
}

func TestUsableScopes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want []string }{
		{[]string{"send", "read", "tag", "admin"}, []string{"send", "read", "tag"}},
		{[]string{"send", "approve"}, []string{"send"}},
		{[]string{"approve", "admin"}, []string{"approve", "admin"}},
		{[]string{"send", "read"}, []string{"send", "read"}},
	} {
		if got := mailbox.UsableScopes(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("UsableScopes(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
