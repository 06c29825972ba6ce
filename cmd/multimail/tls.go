// tls.go: the server certificate: the configured pair, or a self-signed one kept in data_dir so
// that clients that pin it on first use see the same certificate after a restart.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// certStore holds the node's certificate: every TLS listener asks it on each handshake
// (tls.Config.GetCertificate), so a reload that swaps it reaches the next handshake of every
// listener while open sessions keep the certificate they began with.
type certStore struct {
	cur atomic.Pointer[tls.Certificate]
}

func (s *certStore) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load(), nil
}

// loadTLS returns the server's TLS config and, unless ACME provides the certificates (acme.go,
// then nil), the store its certificate files were loaded into.
func loadTLS(c *Config) (*tls.Config, *certStore, error) {
	pair, err := loadPair(c)
	if err != nil {
		return nil, nil, err
	}
	s := &certStore{}
	s.cur.Store(pair)
	return &tls.Config{GetCertificate: s.getCertificate, MinVersion: tls.VersionTLS12}, s, nil
}

// loadPair reads the configured certificate and key. With no [tls] files it creates (once) a
// self-signed ECDSA certificate for hostname in dataDir/tls.
func loadPair(c *Config) (*tls.Certificate, error) {
	certFile, keyFile := c.TLS.Cert, c.TLS.Key
	if certFile == "" {
		dir := filepath.Join(c.DataDir, "tls")
		certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := ensureSelfSigned(dir, certFile, keyFile, c.Hostname); err != nil {
			return nil, fmt.Errorf("self-signed certificate: %w", err)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", certFile, err)
	}
	return &pair, nil
}

func ensureSelfSigned(dir, certFile, keyFile, host string) error {
	if _, err := os.Stat(certFile); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certPEM, keyPEM, err := selfSigned(host)
	if err != nil {
		return err
	}
	if err := writeFileSync(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileSync(certFile, certPEM, 0o644)
}

// selfSigned makes a ten-year ECDSA P-256 certificate for host, localhost and loopback.
func selfSigned(host string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"multimail self-signed"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     uniq([]string{host, "localhost"}),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	return certPEM, keyPEM, nil
}

func uniq(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// writeFileSync writes a file through a temporary name, fsyncs it and renames it into place,
// so a crash leaves either the old file or the whole new one.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
