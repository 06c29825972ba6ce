package identity

import (
	"strings"
	"testing"
)

// BenchmarkSign is the cost the release adds to a 5 KB message.
func BenchmarkSign(b *testing.B) {
	pemKey, _ := GenerateKey()
	key, _ := ParseKey(pemKey)
	msg := []byte(testMsg + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?\r\n", 80))
	h := testHeader()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Sign(msg, h, "example.com", "mmid1", key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the cost of checking one 5 KB message.
func BenchmarkVerify(b *testing.B) {
	pemKey, _ := GenerateKey()
	key, _ := ParseKey(pemKey)
	k, _ := PublicKey("example.com", "mmid1", StatusActive, pemKey)
	ks := KeySet{Keys: []Key{k}}
	msg := []byte(testMsg + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?\r\n", 80))
	signed, _ := Sign(msg, testHeader(), "example.com", "mmid1", key)
	for b.Loop() {
		if _, err := Verify(signed, ks.LookupTXT); err != nil {
			b.Fatal(err)
		}
	}
}
