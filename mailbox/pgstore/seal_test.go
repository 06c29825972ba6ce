package pgstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/pgstore"
	"multimail.dev/multimail/pgdb"
)

// TestSecretKeySealsDomains: with a secret key the database holds no DKIM or identity private
// key in the clear; rows written before the key are sealed when a node opens with it; a node
// without the key, or with another, refuses to open the store.
func TestSecretKeySealsDomains(t *testing.T) {
	t.Parallel()
	plainStore, dsn := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pem := []byte("-----BEGIN PRIVATE KEY-----\nTUMtc2VjcmV0LWRraW0ta2V5\n-----END PRIVATE KEY-----\n")
	if err := plainStore.AddDomain(ctx, mailbox.Domain{Name: "old.example", DKIMKeyPEM: pem}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	inJSON := []byte(base64.StdEncoding.EncodeToString(pem)[:40]) // how the PEM looks in the record's JSON
	raw := func(name string) []byte {
		t.Helper()
		var data []byte
		if err := pool.QueryRow(ctx, "SELECT data FROM mm_domain WHERE name = $1", name).Scan(&data); err != nil {
			t.Fatal(err)
		}
		return data
	}
	if !bytes.Contains(raw("old.example"), inJSON) {
		t.Fatal("without a key the record should be plain JSON")
	}

	key := bytes.Repeat([]byte{7}, 32)
	sealed, err := pgstore.Open(ctx, pool, mailbox.Options{}, pgstore.SecretKey(key))
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	if err := sealed.AddDomain(ctx, mailbox.Domain{Name: "new.example", DKIMKeyPEM: pem}); err != nil {
		t.Fatal(err)
	}
	if err := sealed.SetIdentityKeys(ctx, "new.example", []mailbox.IdentityKey{{Selector: "mmid1", KeyPEM: pem, Status: "active"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"old.example", "new.example"} {
		if r := raw(name); bytes.Contains(r, inJSON) || !bytes.HasPrefix(r, []byte("mmseal1:")) {
			t.Fatalf("%s stored in the clear: %q", name, r)
		}
		d, err := sealed.Domain(ctx, name)
		if err != nil || !bytes.Equal(d.DKIMKeyPEM, pem) {
			t.Fatalf("%s: %v %q", name, err, d.DKIMKeyPEM)
		}
	}
	if ds, err := sealed.Domains(ctx); err != nil || len(ds) != 2 {
		t.Fatalf("domains: %d %v", len(ds), err)
	}
	if d, _ := sealed.Domain(ctx, "new.example"); len(d.IdentityKeys) != 1 || !bytes.Equal(d.IdentityKeys[0].KeyPEM, pem) {
		t.Fatalf("identity keys: %+v", d.IdentityKeys)
	}
	// a sealed record moved to another domain's row does not open
	if _, err := pool.Exec(ctx, "UPDATE mm_domain SET data = (SELECT data FROM mm_domain WHERE name = 'new.example') WHERE name = 'old.example'"); err != nil {
		t.Fatal(err)
	}
	if _, err := sealed.Domain(ctx, "old.example"); !errors.Is(err, pgstore.ErrSealed) {
		t.Fatalf("moved record: %v", err)
	}
	if err := sealed.DeleteDomain(ctx, "old.example"); err != nil {
		t.Fatal(err)
	}

	for name, o := range map[string][]pgstore.OpenOption{"no key": nil, "another key": {pgstore.SecretKey(bytes.Repeat([]byte{8}, 32))}} {
		if s, err := pgstore.Open(ctx, pool, mailbox.Options{}, o...); !errors.Is(err, pgstore.ErrSealed) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: Open = %v, want ErrSealed", name, err)
		}
	}
	if _, err := pgstore.Open(ctx, pool, mailbox.Options{}, pgstore.SecretKey([]byte("short"))); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}
