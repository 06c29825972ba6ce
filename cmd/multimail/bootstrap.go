// bootstrap.go: brings the directory in line with the config file at start. The file is the
// source of truth for the domains and mailboxes it declares; those added at run time (CLI,
// admin API) are left alone. The dev default's two API keys (the agent's and the operator's)
// are kept in data_dir so that they are the same after every restart.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
)

// devKey is one of the dev default's API keys: its plaintext is kept in File (mode 0600, in the
// data directory), as an SSH client keeps its private key; the store keeps only its hash.
type devKey struct {
	File, ID  string
	Mailboxes []string
	Scopes    []string
}

// devKeys are the dev default's keys, in the order the banner prints them. Separation of
// duties: the agent's key sends and never decides; the operator's decides and administers and
// never sends. dev-api-key is the file a dev key always lived in: a data directory from before
// the split keeps its value, with its scopes reduced to the agent's (upgradeDevKey).
var devKeys = []devKey{
	{File: "dev-api-key", ID: "key_dev", Mailboxes: []string{devMailbox}, Scopes: []string{mailbox.ScopeSend, mailbox.ScopeRead, mailbox.ScopeTag}},
	{File: "dev-operator-key", ID: "key_dev_operator", Mailboxes: []string{mailbox.AllMailboxes}, Scopes: []string{mailbox.ScopeApprove, mailbox.ScopeAdmin}},
}

// devMailbox is the dev default's mailbox.
const devMailbox = "agent@localhost"

func (n *node) bootstrap(ctx context.Context) error {
	for _, d := range n.cfg.Domain {
		if err := n.ensureDomain(ctx, d); err != nil {
			return fmt.Errorf("domain %s: %w", d.Name, err)
		}
	}
	if err := n.ensureIdentityKeys(ctx); err != nil {
		return err
	}
	for _, m := range n.cfg.Mailbox {
		if err := n.ensureMailbox(ctx, m); err != nil {
			return fmt.Errorf("mailbox %s: %w", m.Address, err)
		}
	}
	if n.cfg.path == devConfig().path {
		for _, k := range devKeys {
			plain, err := ensureDevKey(ctx, n.store, n.cfg.DataDir, k)
			if err != nil {
				return fmt.Errorf("dev API key %s: %w", k.File, err)
			}
			n.devKeys = append(n.devKeys, plain)
		}
	}
	return nil
}

func (n *node) ensureDomain(ctx context.Context, d DomainConfig) error {
	name := strings.ToLower(d.Name)
	if _, err := n.store.Domain(ctx, name); err == nil {
		return nil
	} else if !errors.Is(err, mailbox.ErrNotFound) {
		return err
	}
	sel := d.DKIMSelector
	if sel == "" {
		sel = "mm1"
	}
	var keyPEM []byte
	var err error
	if d.DKIMKey != "" {
		keyPEM, err = os.ReadFile(d.DKIMKey)
	} else {
		keyPEM, err = generateDKIMKey()
	}
	if err != nil {
		return err
	}
	if err := n.store.AddDomain(ctx, mailbox.Domain{Name: name, DKIMSelector: sel, DKIMKeyPEM: keyPEM}); err != nil {
		return err
	}
	return n.auditConfig(ctx, audit.Record{Kind: audit.KindDomainAdd, Object: name,
		Detail: map[string]string{"dkim_selector": sel}})
}

// kindIdentityKey is the audit record of an identity key generated at start (api's
// identity.rotate and identity.revoke are the run-time ones).
const kindIdentityKey = "identity.generate"

// ensureIdentityKeys gives every domain without identity keys its first one (mmid1): new
// domains of the config, and every domain of a data directory from before identity signing.
// A domain that has keys, even none active, is left as its operator made it.
func (n *node) ensureIdentityKeys(ctx context.Context) error {
	ds, err := n.store.Domains(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if len(d.IdentityKeys) > 0 {
			continue
		}
		pemKey, err := identity.GenerateKey()
		if err != nil {
			return err
		}
		if err := n.store.SetIdentityKeys(ctx, d.Name, mailbox.RotateIdentityKeys(nil, pemKey, time.Now())); err != nil {
			return fmt.Errorf("domain %s: identity key: %w", d.Name, err)
		}
		n.log.Info("identity key generated", "domain", d.Name, "selector", identity.DefaultSelector)
		if err := n.auditConfig(ctx, audit.Record{Kind: kindIdentityKey, Object: d.Name,
			Detail: map[string]string{"selector": identity.DefaultSelector, "changed": "identity key generated"}}); err != nil {
			return err
		}
	}
	return nil
}

// generateDKIMKey makes an RSA-2048 key, the size every verifier accepts (RFC 8301).
func generateDKIMKey() ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func (n *node) ensureMailbox(ctx context.Context, mc MailboxConfig) error {
	mode, err := mailbox.ParseOversight(mc.Oversight)
	if err != nil {
		return err
	}
	m := mailbox.Mailbox{Address: strings.ToLower(mc.Address), Oversight: mode,
		OversightAddress: mc.OversightAddress, PasswordHash: mc.PasswordHash}
	if mc.Password != "" {
		if m.PasswordHash, err = mailbox.HashPassword(mc.Password); err != nil {
			return err
		}
	}
	old, err := n.store.Mailbox(ctx, m.Address)
	var rec *audit.Record
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		err = n.store.AddMailbox(ctx, m)
		rec = &audit.Record{Kind: audit.KindMailboxAdd, Detail: map[string]string{"oversight": string(m.Oversight)}}
	case err == nil:
		if m.PasswordHash == "" {
			m.PasswordHash = old.PasswordHash // a password set at run time survives
		}
		err = n.store.UpdateMailbox(ctx, m)
		rec = mailboxChange(old, m)
	}
	if err != nil {
		return err
	}
	if rec != nil {
		rec.Mailbox, rec.Object = m.Address, m.Address
		if err := n.auditConfig(ctx, *rec); err != nil {
			return err
		}
	}
	hashes := append([]string(nil), mc.APIKeyHashes...)
	for _, k := range mc.APIKeys {
		hashes = append(hashes, mailbox.HashAPIKey(k))
	}
	for _, h := range hashes {
		if err := n.ensureKey(ctx, m.Address, h); err != nil {
			return err
		}
	}
	return nil
}

// ensureKey adds a config-declared key (all scopes on its mailbox) unless its hash is known.
func (n *node) ensureKey(ctx context.Context, address, hash string) error {
	if _, err := n.store.APIKeyByHash(ctx, hash); err == nil {
		return nil
	} else if !errors.Is(err, mailbox.ErrNotFound) {
		return err
	}
	k := mailbox.APIKey{
		ID:        "key_cfg" + hash[:12],
		Hash:      hash,
		Mailboxes: []string{address},
		Scopes:    []string{"send", "read", "tag"},
	}
	if err := n.store.AddAPIKey(ctx, k); err != nil {
		return err
	}
	return n.auditConfig(ctx, audit.Record{Kind: audit.KindKeyCreate, Mailbox: address, Object: k.ID,
		Detail: map[string]string{"mailboxes": address, "scopes": strings.Join(k.Scopes, ",")}})
}

// mailboxChange is the audit record of a config-declared mailbox applied over the stored
// one: an oversight change is its own kind; a changed oversight address is a config.apply.
// nil: neither changed. (A config password is hashed anew, with a new salt, at every start,
// so password changes are not told apart from restarts and are not recorded.)
func mailboxChange(old, m mailbox.Mailbox) *audit.Record {
	switch {
	case old.Oversight != m.Oversight:
		return &audit.Record{Kind: audit.KindOversight,
			Detail: map[string]string{"from": string(old.Oversight), "to": string(m.Oversight)}}
	case old.OversightAddress != m.OversightAddress:
		return &audit.Record{Kind: audit.KindConfig, Detail: map[string]string{"changed": "oversight_address"}}
	}
	return nil
}

// ensureDevKey returns the plaintext of one of the dev default's keys, creating it on first
// start and bringing a stored key with other scopes (a dev key from before the agent/operator
// split held send and admin) to k's scopes, keeping its value.
func ensureDevKey(ctx context.Context, store mailbox.Store, dataDir string, k devKey) (string, error) {
	path := filepath.Join(dataDir, k.File)
	b, err := os.ReadFile(path)
	key := strings.TrimSpace(string(b))
	if errors.Is(err, os.ErrNotExist) {
		key, _ = mailbox.NewAPIKeySecret()
		if err := writeFileSync(path, []byte(key+"\n"), 0o600); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	want := mailbox.APIKey{ID: k.ID, Hash: mailbox.HashAPIKey(key), Mailboxes: k.Mailboxes, Scopes: k.Scopes}
	old, err := store.APIKeyByHash(ctx, want.Hash)
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		return key, store.AddAPIKey(ctx, want)
	case err != nil:
		return "", err
	case slices.Equal(old.Scopes, want.Scopes) && slices.Equal(old.Mailboxes, want.Mailboxes):
		return key, nil
	}
	// Upgrade: the store has no update for keys; this runs before any listener, so nothing can
	// use the key between the two commits (a crash between them recreates it at next start).
	if err := store.DeleteAPIKey(ctx, old.ID); err != nil {
		return "", err
	}
	want.ID, want.Created = old.ID, old.Created
	return key, store.AddAPIKey(ctx, want)
}

// webhookID is a webhook endpoint's stable outbox identity: a hash of its URL.
func webhookID(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "wh_" + hex.EncodeToString(sum[:6])
}
