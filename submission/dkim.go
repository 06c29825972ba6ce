package submission

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	"github.com/emersion/go-msgauth/dkim"

	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
)

// signedHeaders is the DKIM h= list (RFC 6376 §5.4.1's recommendations). From is listed twice
// (oversigned) so that a second From added in transit breaks the signature; fields the message
// lacks are listed too, which likewise forbids adding them.
func signedHeaders() []string {
	return []string{
		"From", "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To",
		"References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
		hdrListUnsubscribe, hdrListUnsubscribePost, // RFC 8058 §4
	}
}

// defaultSelector is used when a domain has none (mailbox.Domain's documented default).
const defaultSelector = "mm1"

// keyCache holds parsed DKIM keys by domain and selector; parsing a PEM (an RSA key in
// particular) costs far more than a lookup, and signing is on the hot path.
type keyCache struct {
	mu   sync.RWMutex
	keys map[string]cachedKey
}

// cachedKey is a parsed key with the PEM it came from, so a rotated key is noticed.
type cachedKey struct {
	pem    []byte
	signer crypto.Signer
}

// signer returns the parsed key of d, parsing and caching it on first use.
func (c *keyCache) signer(d mailbox.Domain) (crypto.Signer, string, error) {
	sel := d.DKIMSelector
	if sel == "" {
		sel = defaultSelector
	}
	k := d.Name + "\x00" + sel
	c.mu.RLock()
	e, ok := c.keys[k]
	c.mu.RUnlock()
	if ok && bytes.Equal(e.pem, d.DKIMKeyPEM) {
		return e.signer, sel, nil
	}
	s, err := ParseDKIMKey(d.DKIMKeyPEM)
	if err != nil {
		return nil, "", fmt.Errorf("dkim key of %s: %w", d.Name, err)
	}
	c.mu.Lock()
	if c.keys == nil {
		c.keys = make(map[string]cachedKey)
	}
	c.keys[k] = cachedKey{pem: bytes.Clone(d.DKIMKeyPEM), signer: s}
	c.mu.Unlock()
	return s, sel, nil
}

// identity returns the parsed identity key k of domain, parsing and caching it on first use.
func (c *keyCache) identity(domain string, k mailbox.IdentityKey) (ed25519.PrivateKey, error) {
	ck := "id\x00" + domain + "\x00" + k.Selector
	c.mu.RLock()
	e, ok := c.keys[ck]
	c.mu.RUnlock()
	if ok && bytes.Equal(e.pem, k.KeyPEM) {
		return e.signer.(ed25519.PrivateKey), nil
	}
	key, err := identity.ParseKey(k.KeyPEM)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.keys == nil {
		c.keys = make(map[string]cachedKey)
	}
	c.keys[ck] = cachedKey{pem: bytes.Clone(k.KeyPEM), signer: key}
	c.mu.Unlock()
	return key, nil
}

// SignSystem DKIM-signs a message the node itself writes (a TLS-RPT report: system mail, never
// gated) with domain d's key and selector, over the fields every message signs plus
// extraHeaders; no l= (RFC 8460 §5.2 asks for that).
func SignSystem(msg []byte, d mailbox.Domain, extraHeaders ...string) ([]byte, error) {
	key, err := ParseDKIMKey(d.DKIMKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("DKIM key of %s: %w", d.Name, err)
	}
	sel := d.DKIMSelector
	if sel == "" {
		sel = defaultSelector
	}
	return sign(msg, d.Name, sel, key, extraHeaders...)
}

// ParseDKIMKey parses a PEM private key: PKCS#8 (RSA or Ed25519), or PKCS#1 RSA.
func ParseDKIMKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type == "RSA PRIVATE KEY" {
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// sign returns msg with a DKIM-Signature field prepended, signed by key for domain/selector
// with relaxed/relaxed canonicalization (RFC 6376 §3.4).
func sign(msg []byte, domain, selector string, key crypto.Signer, extraHeaders ...string) ([]byte, error) {
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             append(signedHeaders(), extraHeaders...),
	})
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(msg); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	sig := s.Signature()
	out := make([]byte, 0, len(sig)+len(msg))
	return append(append(out, sig...), msg...), nil
}
