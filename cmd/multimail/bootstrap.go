// bootstrap.go: brings the directory in line with the config file at start. The file is the
// source of truth for the domains and mailboxes it declares; those added at run time (CLI,
// admin API) are left alone. The dev default's API key is kept in data_dir so that it is the
// same after every restart.
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
	"strings"

	"multimail.dev/multimail/mailbox"
)

// devKeyFile holds the dev default's API key in plaintext (mode 0600), as an SSH client keeps
// its private key; the store keeps only its hash.
const devKeyFile = "dev-api-key"

func (n *node) bootstrap(ctx context.Context) error {
	for _, d := range n.cfg.Domain {
		if err := n.ensureDomain(ctx, d); err != nil {
			return fmt.Errorf("domain %s: %w", d.Name, err)
		}
	}
	for _, m := range n.cfg.Mailbox {
		if err := n.ensureMailbox(ctx, m); err != nil {
			return fmt.Errorf("mailbox %s: %w", m.Address, err)
		}
	}
	if n.cfg.path == devConfig().path {
		key, err := n.ensureDevKey(ctx)
		if err != nil {
			return fmt.Errorf("dev API key: %w", err)
		}
		n.devKey = key
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
	return n.store.AddDomain(ctx, mailbox.Domain{Name: name, DKIMSelector: sel, DKIMKeyPEM: keyPEM})
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
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		err = n.store.AddMailbox(ctx, m)
	case err == nil:
		if m.PasswordHash == "" {
			m.PasswordHash = old.PasswordHash // a password set at run time survives
		}
		err = n.store.UpdateMailbox(ctx, m)
	}
	if err != nil {
		return err
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
	return n.store.AddAPIKey(ctx, mailbox.APIKey{
		ID:        "key_cfg" + hash[:12],
		Hash:      hash,
		Mailboxes: []string{address},
		Scopes:    []string{"send", "read", "tag"},
	})
}

// ensureDevKey returns the dev default's key, creating it on first start. The key may act
// for agent@localhost and administer the node, since the dev default is for one person.
func (n *node) ensureDevKey(ctx context.Context) (string, error) {
	path := filepath.Join(n.cfg.DataDir, devKeyFile)
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
	hash := mailbox.HashAPIKey(key)
	if _, err := n.store.APIKeyByHash(ctx, hash); err == nil {
		return key, nil
	}
	err = n.store.AddAPIKey(ctx, mailbox.APIKey{
		ID:        "key_dev",
		Hash:      hash,
		Mailboxes: []string{"agent@localhost"},
		Scopes:    []string{"send", "read", "tag", "admin"},
	})
	return key, err
}

// webhookID is a webhook endpoint's stable outbox identity: a hash of its URL.
func webhookID(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "wh_" + hex.EncodeToString(sum[:6])
}
