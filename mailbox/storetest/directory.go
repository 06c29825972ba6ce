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
	keys := []mailbox.IdentityKey{{Selector: "mmid1", KeyPEM: []byte("k1"), Status: "retired"},
		{Selector: "mmid2", KeyPEM: []byte("k2"), Status: "active"}}
	must(t, s.SetIdentityKeys(c, "EXAMPLE.com", keys))
	keys[1].KeyPEM[0] = 'x' // the store keeps its own copy
	wantErr(t, s.SetIdentityKeys(c, "nope.example", keys), mailbox.ErrNotFound)
	d, err = s.Domain(c, "example.com")
	must(t, err)
	if act, ok := d.ActiveIdentityKey(); !ok || act.Selector != "mmid2" || string(act.KeyPEM) != "k2" ||
		len(d.IdentityKeys) != 2 || string(d.DKIMKeyPEM) != "pem" {
		t.Fatalf("identity keys = %+v", d.IdentityKeys)
	}
	if _, ok := ds[0].ActiveIdentityKey(); ok {
		t.Fatal("a domain without identity keys has an active one")
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
	star, starHash := mailbox.NewAPIKeySecret()
	operator, operatorHash := mailbox.NewAPIKeySecret()
	approver, approverHash := mailbox.NewAPIKeySecret()
	other, otherHash := mailbox.NewAPIKeySecret()
	unstored, _ := mailbox.NewAPIKeySecret()
	agent := []string{mailbox.ScopeSend, mailbox.ScopeRead, mailbox.ScopeTag}
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_own", Hash: ownHash, Mailboxes: []string{"a@example.com"}, Scopes: agent}))
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_star", Hash: starHash, Mailboxes: []string{"*"}, Scopes: agent}))
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_operator", Hash: operatorHash, Mailboxes: []string{"*"},
		Scopes: []string{mailbox.ScopeApprove, mailbox.ScopeAdmin}}))
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_approver", Hash: approverHash, Mailboxes: []string{"a@example.com"},
		Scopes: []string{mailbox.ScopeApprove}}))
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_other", Hash: otherHash, Mailboxes: []string{"b@example.com"}, Scopes: agent}))
	send := []string{mailbox.ScopeSend}
	imap := []string{mailbox.ScopeRead, mailbox.ScopeTag}
	cases := []struct {
		name, addr, secret string
		need               []string
		ok                 bool
	}{
		{"password", "a@example.com", "pw", send, true},
		{"password, address case", "A@Example.com", "pw", imap, true},
		{"wrong password", "a@example.com", "pw2", send, false},
		{"empty secret", "a@example.com", "", nil, false},
		{"unknown mailbox", "zz@example.com", "pw", nil, false},
		{"own key, send", "a@example.com", own, send, true},
		{"own key, read and tag", "a@example.com", own, imap, true},
		{"* key", "a@example.com", star, send, true},
		{"* key, no password mailbox", "nopw@example.com", star, imap, true},
		{"no password set", "nopw@example.com", "", nil, false},
		{"key of another mailbox", "a@example.com", other, send, false},
		{"unknown key", "a@example.com", unstored, nil, false},
		{"key, unknown mailbox", "zz@example.com", star, send, false},
		// A key never grants more than it holds: the operator's approve+admin is not send,
		// and approve alone neither reads nor tags.
		{"operator key may not send", "a@example.com", operator, send, false},
		{"operator key reads and tags (admin implies them)", "a@example.com", operator, imap, true},
		{"approve-only key may not open the mailbox", "a@example.com", approver, imap, false},
		{"approve-only key may not send", "a@example.com", approver, send, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := s.Authenticate(c, tc.addr, tc.secret, tc.need)
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
	if _, err := s.Authenticate(c, "a@example.com", own, nil); !errors.Is(err, mailbox.ErrBadCredentials) {
		t.Fatalf("deleted key still accepted: %v", err)
	}
}

// testAuthCacheFlush: a password that just logged in (and so sits in the login cache) stops
// working at once when the password changes, a wrong one never passes, and an API key
// revoked right after a login is refused at once.
func testAuthCacheFlush(t *testing.T, s mailbox.Store) {
	c := ctx(t)
	addMailbox(t, s, "a@example.com")
	imap := []string{mailbox.ScopeRead, mailbox.ScopeTag}
	for i := 0; i < 3; i++ {
		if _, err := s.Authenticate(c, "a@example.com", "pw", imap); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if _, err := s.Authenticate(c, "a@example.com", "pw-wrong", imap); !errors.Is(err, mailbox.ErrBadCredentials) {
		t.Fatalf("wrong password after a cached login: %v", err)
	}
	m, err := s.Mailbox(c, "a@example.com")
	must(t, err)
	h, err := mailbox.HashPassword("new-pw")
	must(t, err)
	m.PasswordHash = h
	must(t, s.UpdateMailbox(c, m))
	if _, err := s.Authenticate(c, "a@example.com", "pw", imap); !errors.Is(err, mailbox.ErrBadCredentials) {
		t.Fatalf("old password after a change: %v", err)
	}
	if _, err := s.Authenticate(c, "a@example.com", "new-pw", imap); err != nil {
		t.Fatalf("new password: %v", err)
	}
	key, hash := mailbox.NewAPIKeySecret()
	must(t, s.AddAPIKey(c, mailbox.APIKey{ID: "key_x", Hash: hash, Mailboxes: []string{"a@example.com"}, Scopes: imap}))
	if _, err := s.Authenticate(c, "a@example.com", key, imap); err != nil {
		t.Fatalf("key: %v", err)
	}
	must(t, s.DeleteAPIKey(c, "key_x"))
	if _, err := s.Authenticate(c, "a@example.com", key, imap); !errors.Is(err, mailbox.ErrBadCredentials) {
		t.Fatalf("revoked key: %v", err)
	}
}
