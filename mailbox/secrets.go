package mailbox

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
)

// APIKeyPrefix starts every plaintext live API key; TestAPIKeyPrefix every test key
// (APIKey.Test: its sends go through the whole pipeline and are never delivered).
const (
	APIKeyPrefix     = "mm_live_"
	TestAPIKeyPrefix = "mm_test_"
)

// IsAPIKeySecret reports whether secret looks like an API key (live or test), as opposed to a
// mailbox password.
func IsAPIKeySecret(secret string) bool {
	return strings.HasPrefix(secret, APIKeyPrefix) || strings.HasPrefix(secret, TestAPIKeyPrefix)
}

// lowerBase32 is RFC 4648 base32 in lower case without padding.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewAPIKeySecret returns a new plaintext key ("mm_live_" + 32 random base32
// characters, 160 bits) and its hash for storage.
func NewAPIKeySecret() (plaintext, hash string) { return newSecret(APIKeyPrefix) }

// NewTestAPIKeySecret is NewAPIKeySecret for a test key ("mm_test_" + 32 characters).
func NewTestAPIKeySecret() (plaintext, hash string) { return newSecret(TestAPIKeyPrefix) }

func newSecret(prefix string) (plaintext, hash string) {
	var b [20]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	plaintext = prefix + lowerBase32.EncodeToString(b[:])
	return plaintext, HashAPIKey(plaintext)
}

// HashAPIKey returns the hex SHA-256 of a plaintext API key.
func HashAPIKey(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// HashPassword returns the bcrypt hash of pw at bcrypt.DefaultCost.
func HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// newKeyID returns "key_" + 16 random base32 characters.
func newKeyID() string {
	var b [10]byte
	rand.Read(b[:])
	return "key_" + lowerBase32.EncodeToString(b[:])
}

// dummyBcrypt is compared against when the mailbox has no password or does not
// exist, so that a miss costs the same time as a wrong password. (The bcrypt of
// a random string at cost 10; nothing hashes to it in practice.)
const dummyBcrypt = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

// checkPassword compares pw with a bcrypt hash in constant time (bcrypt does).
// bcryptChecks counts password hash comparisons (the login cache's test reads it).
var bcryptChecks atomic.Int64

func checkPassword(hash, pw string) bool {
	bcryptChecks.Add(1)
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyBcrypt), []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// sameHash compares two hex hashes in constant time.
func sameHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
