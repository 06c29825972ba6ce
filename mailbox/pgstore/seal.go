package pgstore

// seal.go: the domain records (DKIM and identity private keys) encrypted at rest with the
// key every node shares (`[store] secret_key_file`), so that the database, its replicas and
// its backups hold no usable signing key without the nodes' configuration.

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/chacha20poly1305"

	"multimail.dev/multimail/mailbox"
)

// sealPrefix starts a sealed record: version 1 is XChaCha20-Poly1305 with a random 24-byte
// nonce after the prefix and the domain name as additional data, so a sealed record cannot
// be moved to another domain's row.
var sealPrefix = []byte("mmseal1:")

// ErrSealed is returned for a sealed domain record when the store has no key, or the
// wrong one.
var ErrSealed = errors.New("domain record is encrypted with another store secret key (store.secret_key_file)")

// OpenOption configures Open.
type OpenOption func(*Store) error

// SecretKey makes the store encrypt domain records (their DKIM and identity private keys)
// with key (32 bytes, the same on every node) and seal, at Open, the rows written before.
// Without it, records are stored as JSON, and a sealed record cannot be read (ErrSealed).
func SecretKey(key []byte) OpenOption {
	return func(s *Store) error {
		sl, err := newSealer(key)
		s.seal = sl
		return err
	}
}

// sealer encrypts domain records; a nil *sealer stores them as plain JSON.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if key == nil {
		return nil, nil
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("store secret key: %w (want %d bytes)", err, chacha20poly1305.KeySize)
	}
	return &sealer{aead: aead}, nil
}

// seal returns data encrypted for the row of domain name, or data itself without a key.
func (s *sealer) seal(name string, data []byte) []byte {
	if s == nil {
		return data
	}
	nonce := make([]byte, s.aead.NonceSize(), len(sealPrefix)+s.aead.NonceSize()+len(data)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	out := append(append([]byte{}, sealPrefix...), nonce...)
	return s.aead.Seal(out, nonce, data, []byte(name))
}

// open returns the JSON of a stored domain record: decrypted when sealed (ErrSealed without
// the right key), as stored when plain (a row written before the key was set).
func (s *sealer) open(name string, stored []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(stored, sealPrefix)
	if !ok {
		return stored, nil
	}
	if s == nil {
		return nil, fmt.Errorf("domain %s: %w", name, ErrSealed)
	}
	n := s.aead.NonceSize()
	if len(rest) < n {
		return nil, fmt.Errorf("domain %s: %w", name, ErrSealed)
	}
	data, err := s.aead.Open(nil, rest[:n], rest[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("domain %s: %w", name, ErrSealed)
	}
	return data, nil
}

// sealPlainDomains checks that every sealed domain row opens with the store's key (else
// ErrSealed: a node with a missing or wrong key refuses to start rather than fail to sign)
// and, with a key, encrypts in one transaction every row still stored as plain JSON
// (written before the key was configured). It returns how many it sealed.
func (s *Store) sealPlainDomains(ctx context.Context) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		q := "SELECT name, data FROM mm_domain ORDER BY name"
		if s.seal != nil {
			q += " FOR UPDATE"
		}
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return err
		}
		plain := map[string][]byte{}
		var name string
		var data []byte
		_, err = pgx.ForEachRow(rows, []any{&name, &data}, func() error {
			if !bytes.HasPrefix(data, sealPrefix) {
				plain[name] = bytes.Clone(data)
				return nil
			}
			_, err := s.seal.open(name, data)
			return err
		})
		if err != nil || s.seal == nil {
			return err
		}
		for name, data := range plain {
			if _, err := tx.Exec(ctx, "UPDATE mm_domain SET data = $2 WHERE name = $1", name, s.seal.seal(name, data)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// decodeDomain decodes a stored domain record of the row name.
func (s *Store) decodeDomain(name string, stored []byte) (mailbox.Domain, error) {
	data, err := s.seal.open(name, stored)
	if err != nil {
		return mailbox.Domain{}, err
	}
	var d mailbox.Domain
	if err := json.Unmarshal(data, &d); err != nil {
		return mailbox.Domain{}, fmt.Errorf("domain %s: %w: %v", name, mailbox.ErrCorrupt, err)
	}
	return d, nil
}
