package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// legacyKeyStore is a store holding one key the scope rules refuse today, as a data directory
// from before the agent/operator split does.
type legacyKeyStore struct {
	mailbox.Store
	legacy *mailbox.APIKey
}

func (s *legacyKeyStore) APIKeyByHash(ctx context.Context, hash string) (mailbox.APIKey, error) {
	if s.legacy != nil && s.legacy.Hash == hash {
		return *s.legacy, nil
	}
	return s.Store.APIKeyByHash(ctx, hash)
}

func (s *legacyKeyStore) DeleteAPIKey(ctx context.Context, id string) error {
	if s.legacy != nil && s.legacy.ID == id {
		s.legacy = nil
		return nil
	}
	return s.Store.DeleteAPIKey(ctx, id)
}

// TestDevKeyUpgrade: a dev key that held send and admin keeps its value with the agent's
// scopes; the operator key is new; both are stable on the next start.
func TestDevKeyUpgrade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	plain, hash := mailbox.NewAPIKeySecret()
	if err := os.WriteFile(filepath.Join(dir, "dev-api-key"), []byte(plain+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := &legacyKeyStore{Store: mailbox.NewMemory(), legacy: &mailbox.APIKey{ID: "key_dev", Hash: hash,
		Mailboxes: []string{"agent@localhost"}, Scopes: []string{"send", "read", "tag", "admin"}}}
	var first []string
	for range 2 {
		var got []string
		for _, k := range devKeys {
			key, err := ensureDevKey(ctx, store, dir, k)
			if err != nil {
				t.Fatalf("%s: %v", k.File, err)
			}
			got = append(got, key)
		}
		if first == nil {
			first = got
		} else if !slices.Equal(first, got) {
			t.Fatalf("keys changed across starts: %v then %v", first, got)
		}
	}
	if first[0] != plain {
		t.Fatalf("the agent key changed value on upgrade")
	}
	agent, err := store.APIKeyByHash(ctx, hash)
	if err != nil || agent.ID != "key_dev" || !slices.Equal(agent.Scopes, []string{"send", "read", "tag"}) {
		t.Fatalf("agent key after upgrade: %+v %v", agent, err)
	}
	op, err := store.APIKeyByHash(ctx, mailbox.HashAPIKey(first[1]))
	if err != nil || slices.Contains(op.Scopes, "send") || !op.HasScope("approve") {
		t.Fatalf("operator key: %+v %v", op, err)
	}
	for _, f := range []string{"dev-api-key", "dev-operator-key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if !strings.HasPrefix(string(b), mailbox.APIKeyPrefix) {
			t.Errorf("%s holds %q", f, b)
		}
	}
}

// TestIdentityKeyUpgrade: a domain from before identity signing gets mmid1 at start; a domain
// that has keys keeps them as they are; a second start changes nothing.
func TestIdentityKeyUpgrade(t *testing.T) {
	ctx := context.Background()
	store := mailbox.NewMemory()
	if err := store.AddDomain(ctx, mailbox.Domain{Name: "old.example"}); err != nil {
		t.Fatal(err)
	}
	kept := []mailbox.IdentityKey{{Selector: "mmid3", KeyPEM: []byte("x"), Status: mailbox.IdentityRetired}}
	if err := store.AddDomain(ctx, mailbox.Domain{Name: "kept.example", IdentityKeys: kept}); err != nil {
		t.Fatal(err)
	}
	n := &node{store: store, log: slog.New(slog.DiscardHandler)}
	var first []byte
	for range 2 {
		if err := n.ensureIdentityKeys(ctx); err != nil {
			t.Fatal(err)
		}
		d, _ := store.Domain(ctx, "old.example")
		k, ok := d.ActiveIdentityKey()
		if !ok || k.Selector != "mmid1" || len(d.IdentityKeys) != 1 {
			t.Fatalf("old.example keys %+v", d.IdentityKeys)
		}
		if first == nil {
			first = k.KeyPEM
		} else if string(first) != string(k.KeyPEM) {
			t.Fatal("the identity key changed on the second start")
		}
		if d, _ := store.Domain(ctx, "kept.example"); len(d.IdentityKeys) != 1 || d.IdentityKeys[0].Selector != "mmid3" {
			t.Fatalf("kept.example keys %+v", d.IdentityKeys)
		}
	}
}
