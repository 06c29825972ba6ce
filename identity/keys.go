package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// DefaultSelector is the selector of a domain's first identity key; rotation adds mmid2, …
const DefaultSelector = "mmid1"

// Algorithm is the only key algorithm of identity keys (RFC 8463).
const Algorithm = "ed25519"

// Key states in a key set.
const (
	StatusActive  = "active"  // signs new messages (one per domain)
	StatusRetired = "retired" // no longer signs; still verifies what it signed
	StatusRevoked = "revoked" // verifies nothing: published with an empty public key
)

// Key is one public identity key as the key set serves it.
type Key struct {
	Domain    string `json:"domain"`
	Selector  string `json:"selector"`
	Algorithm string `json:"algorithm"`
	PublicKey string `json:"public_key"` // base64 of the raw 32-byte key; "" when revoked
	Status    string `json:"status"`
}

// KeySet is the document at /.well-known/multimail-identity.
type KeySet struct {
	Version int   `json:"version"` // 1
	Keys    []Key `json:"keys"`
}

// GenerateKey returns a new Ed25519 private key as PKCS#8 PEM (how the DKIM keys are kept).
func GenerateKey() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("identity: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey parses a PKCS#8 PEM Ed25519 private key.
func ParseKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("identity: key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity: key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity: key is %T, not Ed25519", k)
	}
	return priv, nil
}

// PublicKey returns the public Key of a private key PEM for domain/selector with status.
// A revoked key's public key is left empty.
func PublicKey(domain, selector, status string, pemBytes []byte) (Key, error) {
	k := Key{Domain: domain, Selector: selector, Algorithm: Algorithm, Status: status}
	if status == StatusRevoked {
		return k, nil
	}
	priv, err := ParseKey(pemBytes)
	if err != nil {
		return Key{}, err
	}
	k.PublicKey = base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	return k, nil
}

// TXT is the DKIM key record (RFC 6376 §3.6.1, RFC 8463 §4.2) of k, published at
// <selector>._domainkey.<domain>. A revoked key has an empty p= (RFC 6376 §3.6.1).
func (k Key) TXT() string {
	return "v=DKIM1; k=ed25519; p=" + k.PublicKey
}

// RecordName is the DNS name of k's TXT record.
func (k Key) RecordName() string {
	return k.Selector + "._domainkey." + strings.TrimSuffix(k.Domain, ".") + "."
}

// LookupTXT answers DKIM key queries ("<selector>._domainkey.<domain>") from the key set,
// for Verify. A name the set does not hold is ErrUnknownKey.
func (ks KeySet) LookupTXT(name string) ([]string, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, k := range ks.Keys {
		if strings.ToLower(k.Selector)+"._domainkey."+strings.ToLower(strings.TrimSuffix(k.Domain, ".")) == name {
			if k.Algorithm != Algorithm {
				return nil, fmt.Errorf("%w: %s has algorithm %q", ErrUnknownKey, name, k.Algorithm)
			}
			if k.Status == StatusRevoked {
				return []string{Key{}.TXT()}, nil
			}
			return []string{k.TXT()}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s is not in the key set", ErrUnknownKey, name)
}
