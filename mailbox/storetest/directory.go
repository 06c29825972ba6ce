package storetest

import (
	"errors"
	"testing"

	"multimail.dev/multimail/mailbox"
)

func testDomains(t *testing.T, s mailbox.Store) {
	c := ctx(t)
	must(t, s.AddDomain(c, mailbox.Domain{Name: "Example.COM", DKIMKeyPEM: []byte("pem")}))
	must(t, s.AddDomain(c, mailbox.Domain{Name: "a.example", DKIMSelector: "s2"}))
	wantErr(t, s.AddDomain(c, mailbox.Domain{Name: "example.com"}), mailbox.ErrExists)
	d, err := s.Domain(c, "EXAMPLE.com")
	must(t, err)
	if d.Name != "example.com" || d.DKIMSelector != "mm1" || string(d.DKIMKeyPEM) != "pem" || d.Created.IsZero() {
		t.Fatalf("domain = %+v", d)
	}
	_, err = s.Domain(c, "nope.example")
	wantErr(t, err, mailbox.ErrNotFound)
	ds, err := s.Domains(c)
	must(t, err)
	if len(ds) != 2 || ds[0].Name != "a.example" || ds[0].DKIMSelector != "s2" || ds[1].Name != "example.com" {
		t.Fatalf("domains = %+v", ds)
	}
}

func testMailboxes(t *testing.T, s mailbox.Store) {
	c := ctx(t)
	must(t, s.AddMailbox(c, mailbox.Mailbox{Address: "Agent@Example.com"}))
	must(t, s.AddMailbox(c, mailbox.Mailbox{Address: "b@example.com", Oversight: mailbox.Autonomous}))
	wantErr(t, s.AddMailbox(c, mailbox.Mailbox{Address: "agent@example.com"}), mailbox.ErrExists)
	wantErr(t, s.AddMailbox(c, mailbox.Mailbox{Address: "c@example.com", Oversight: "yolo"}), mailbox.ErrInvalidOversight)
	wantErr(t, s.AddMailbox(c, mailbox.Mailbox{Address: "no-at-sign"}), mailbox.ErrInvalidAddress)
	m, err := s.Mailbox(c, "AGENT@example.com")
	must(t, err)
	if m.Address != "agent@example.com" || m.Oversight != mailbox.GatedSend || m.Created.IsZero() {
		t.Fatalf("mailbox = %+v", m)
	}
	m.Oversight, m.OversightAddress = mailbox.GatedAll, "Boss@example.com"
	must(t, s.UpdateMailbox(c, m))
	m2, err := s.Mailbox(c, "agent@example.com")
	must(t, err)
	if m2.Oversight != mailbox.GatedAll || m2.OversightAddress != "boss@example.com" || !m2.Created.Equal(m.Created) {
		t.Fatalf("updated = %+v", m2)
	}
	wantErr(t, s.UpdateMailbox(c, mailbox.Mailbox{Address: "x@example.com"}), mailbox.ErrNotFound)
	_, err = s.Mailbox(c, "x@example.com")
	wantErr(t, err, mailbox.ErrNotFound)
	ms, err := s.Mailboxes(c)
	must(t, err)
	if len(ms) != 2 || ms[0].Address != "agent@example.com" || ms[1].Oversight != mailbox.Autonomous {
		t.Fatalf("mailboxes = %+v", ms)
	}
}

func testAPIKeys(t *testing.T, s mailbox.Store) {
	c := ctx(t)
	_, h1 := mailbox.NewAPIKeySecret()
	_, h2 := mailbox.NewAPIKeySecret()
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_b", Hash: h1, Mailboxes: []string{"A@x.example"}, Scopes: []string{"read"}}))
	must(t, s.AddAPIKey(c, mailbox.APIKey{Hash: h2, Mailboxes: []string{"*"}}))
	wantErr(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_b", Hash: h2}), mailbox.ErrExists)
	_, h3 := mailbox.NewAPIKeySecret()
	wantErr(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_c", Hash: h1}), mailbox.ErrExists)
	if err := s.AddAPIKey(c, mailbox.APIKey{ID: "key_d", Hash: "short"}); err == nil {
		t.Fatal("short hash accepted")
	}
	k, err := s.APIKeyByHash(c, h1)
	must(t, err)
	if k.ID != "key_b" || k.Mailboxes[0] != "a@x.example" || k.Scopes[0] != "read" || k.Created.IsZero() {
		t.Fatalf("key = %+v", k)
	}
	_, err = s.APIKeyByHash(c, h3)
	wantErr(t, err, mailbox.ErrNotFound)
	ks, err := s.APIKeys(c)
	must(t, err)
	if len(ks) != 2 || ks[0].ID >= ks[1].ID {
		t.Fatalf("keys not two, by ID: %+v", ks)
	}
	for _, k := range ks {
		if k.ID != "key_b" && (len(k.ID) < 8 || k.ID[:4] != "key_" || k.Mailboxes[0] != "*") {
			t.Fatalf("generated key = %+v", k)
		}
	}
	must(t, s.DeleteAPIKey(c, "key_b"))
	wantErr(t, s.DeleteAPIKey(c, "key_b"), mailbox.ErrNotFound)
	_, err = s.APIKeyByHash(c, h1)
	wantErr(t, err, mailbox.ErrNotFound)
}

func testAuthenticate(t *testing.T, s mailbox.Store) {
	c := ctx(t)
	addMailbox(t, s, "a@example.com")
	must(t, s.AddMailbox(c, mailbox.Mailbox{Address: "nopw@example.com"}))
	own, ownHash := mailbox.NewAPIKeySecret()
	admin, adminHash := mailbox.NewAPIKeySecret()
	other, otherHash := mailbox.NewAPIKeySecret()
	unstored, _ := mailbox.NewAPIKeySecret()
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_own", Hash: ownHash, Mailboxes: []string{"a@example.com"}}))
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_admin", Hash: adminHash, Mailboxes: []string{"*"}}))
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_other", Hash: otherHash, Mailboxes: []string{"b@example.com"}}))
	cases := []struct {
		name, addr, secret string
		ok                 bool
	}{
		{"password", "a@example.com", "pw", true},
		{"password, address case", "A@Example.com", "pw", true},
		{"wrong password", "a@example.com", "pw2", false},
		{"empty secret", "a@example.com", "", false},
		{"unknown mailbox", "zz@example.com", "pw", false},
		{"own key", "a@example.com", own, true},
		{"admin key", "a@example.com", admin, true},
		{"admin key, no password mailbox", "nopw@example.com", admin, true},
		{"no password set", "nopw@example.com", "", false},
		{"key of another mailbox", "a@example.com", other, false},
		{"unknown key", "a@example.com", unstored, false},
		{"key, unknown mailbox", "zz@example.com", admin, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := s.Authenticate(c, tc.addr, tc.secret)
			if !tc.ok {
				wantErr(t, err, mailbox.ErrBadCredentials)
				return
			}
			must(t, err)
			if m.Address == "" {
				t.Fatal("no mailbox returned")
			}
		})
	}
	must(t, s.DeleteAPIKey(c, "key_own"))
	if _, err := s.Authenticate(c, "a@example.com", own); !errors.Is(err, mailbox.ErrBadCredentials) {
		t.Fatalf("deleted key still accepted: %v", err)
	}
}
