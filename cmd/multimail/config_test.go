package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigParses(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig("../../testdata/multimail.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mx.example.com" || c.Listen.Submission != "0.0.0.0:587" {
		t.Errorf("hostname/listen not decoded: %+v", c)
	}
	if c.Delivery.MaxLifetime.D() != 120*time.Hour || c.Delivery.PerDomainConcurrency != 10 {
		t.Errorf("delivery = %+v", c.Delivery)
	}
	if max, perIP := c.Limits.forKind(kindSMTP); max != 1000 || perIP != 100 {
		t.Errorf("smtp caps = %d, %d per IP; want 1000, 100", max, perIP)
	}
	if max, perIP := c.Limits.forKind(kindHTTP); max != 500 || perIP != 200 {
		t.Errorf("http caps = %d, %d per IP; want 500, 200", max, perIP)
	}
	if c.Storage.MinFree.N() != 100<<20 || c.Storage.Ballast.N() != 64<<20 {
		t.Errorf("storage = %+v", c.Storage)
	}
	if at := c.AuthThrottle; at.MaxFailures != 10 || at.Backoff.D() != time.Second || at.KnownFor.D() != 720*time.Hour {
		t.Errorf("auth_throttle = %+v", at)
	}
	if len(c.Mailbox) != 2 || c.Mailbox[0].Oversight != "gated_send" || len(c.Transport) != 1 ||
		len(c.Webhook) != 1 || len(c.ApprovalRule) != 1 || c.ApprovalRule[0].Action != "auto_approve" {
		t.Errorf("arrays not decoded: %+v", c)
	}
}

func TestLimitsDefaults(t *testing.T) {
	t.Parallel()
	c, err := parseConfig("multimail.toml", []byte("[limits]\nimap_max_connections = 50\n"))
	if err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string][2]int{kindSMTP: {1000, 200}, kindIMAP: {50, 200}, kindHTTP: {1000, 200}} {
		if max, perIP := c.Limits.forKind(kind); max != want[0] || perIP != want[1] {
			t.Errorf("%s caps = %d, %d per IP; want %v", kind, max, perIP, want)
		}
	}
}

func TestDevConfigIsValid(t *testing.T) {
	t.Parallel()
	c := devConfig()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	want := ListenConfig{"127.0.0.1:2525", "127.0.0.1:2587", "127.0.0.1:2465", "127.0.0.1:2143", "127.0.0.1:2993", "127.0.0.1:8025", "", ""}
	if c.Listen != want || c.DataDir != "./multimail-data" {
		t.Errorf("dev default = %+v", c)
	}
}

func TestBadConfigNamesFileLineKey(t *testing.T) {
	t.Parallel()
	base := "hostname = \"mx.test\"\n[[domain]]\nname = \"example.com\"\n"
	cases := []struct {
		name, src, key string
		line           int
		msg            string
	}{
		{"unknown top key", "hostnme = \"x\"\n", "hostnme", 1, "unknown key"},
		{"unknown table key", "[listen]\nsmtp = \"127.0.0.1:25\"\nimapp = \"x\"\n", "listen.imapp", 3, "unknown key"},
		{"bad duration", "[delivery]\nmax_lifetime = \"5 days\"\n", "delivery.max_lifetime", 2, "bad duration"},
		{"negative duration", "[delivery]\nmax_lifetime = \"-1h\"\n", "delivery.max_lifetime", 2, "positive"},
		{"wrong type", "[delivery]\nper_domain_concurrency = \"ten\"\n", "delivery.per_domain_concurrency", 2, "incompatible"},
		{"syntax", "hostname = \n", "", 1, ""},
		{"bad listen", "[listen]\nhttp = \"8025\"\n", "listen.http", 2, "host:port"},
		{"bad oversight", base + "[[mailbox]]\naddress = \"a@example.com\"\n[[mailbox]]\naddress = \"b@example.com\"\noversight = \"yolo\"\n", "mailbox[1].oversight", 8, "gated_send"},
		{"foreign mailbox", base + "[[mailbox]]\naddress = \"a@other.com\"\n", "mailbox[0].address", 5, "[[domain]]"},
		{"bad tls policy", "[[transport]]\ndomain = \"*\"\nnext_hop = \"127.0.0.1:25\"\ntls = \"maybe\"\n", "transport[0].tls", 4, "required"},
		{"bad webhook secret", "[[webhook]]\nurl = \"http://127.0.0.1:9/\"\nsecret = \"hunter2\"\n", "webhook[0].secret", 3, "whsec_"},
		{"bad event", "[[webhook]]\nurl = \"http://127.0.0.1:9/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nevents = [\"sent\"]\n", "webhook[0].events", 4, "unknown event"},
		{"bad rule", "[[approval_rule]]\naction = \"maybe\"\n", "approval_rule[0].action", 2, "auto_approve"},
		{"bad network", "[submission]\ntrusted_networks = [\"localhost\"]\n", "submission.trusted_networks[0]", 2, "CIDR"},
		{"bad cap", "[limits]\nmax_connections = 0\n", "limits.max_connections", 2, "at least 1"},
		{"negative kind cap", "[limits]\nimap_max_connections_per_ip = -1\n", "limits.imap_max_connections_per_ip", 2, "at least 0"},
		{"bad resolver", "[dns]\nresolver = \"dns.example\"\n", "dns.resolver", 2, "ip:port"},
		{"bad size", "[storage]\nmin_free = \"lots\"\n", "storage.min_free", 2, "bad size"},
		{"negative size", "[storage]\nballast = -1\n", "storage.ballast", 2, "negative"},
		{"zero max_failures", "[auth_throttle]\nbackoff = \"2s\"\nmax_failures = 0\n", "auth_throttle.max_failures", 3, "-1"},
		{"bad store backend", "[store]\nbackend = \"mysql\"\n", "store.backend", 2, "postgres"},
		{"postgres without dsn", "[store]\nbackend = \"postgres\"\n", "store.backend", 2, "store.dsn"},
		{"dsn with pebble", "[store]\ndsn = \"postgres://db.example/mm\"\n", "store.dsn", 2, "only for"},
		{"bad dsn", "[store]\nbackend = \"postgres\"\ndsn = \"postgres://u:secretpw@db.example:notaport/mm\"\n", "store.dsn", 3, "parse"},
		{"secret key with pebble", "[store]\nsecret_key_file = \"/etc/multimail/store.key\"\n", "store.secret_key_file", 2, "only for"},
		{"missing secret key", "[store]\nbackend = \"postgres\"\ndsn = \"postgres://db.example/mm\"\nsecret_key_file = \"/nonexistent/store.key\"\n", "store.secret_key_file", 4, "no such file"},
		{"short secret key", "[store]\nbackend = \"postgres\"\ndsn = \"postgres://db.example/mm\"\nsecret_key_file = \"/proc/version\"\n", "store.secret_key_file", 4, "32 bytes"},
		{"backoff above max", "[auth_throttle]\nbackoff = \"1h\"\nmax_backoff = \"1m\"\n", "auth_throttle.max_backoff", 3, "backoff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig("multimail.toml", []byte(tc.src))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConfigError", err)
			}
			if ce.File != "multimail.toml" || ce.Line != tc.line || (tc.key != "" && ce.Key != tc.key) {
				t.Errorf("got file %q line %d key %q, want line %d key %q (%v)", ce.File, ce.Line, ce.Key, tc.line, tc.key, err)
			}
			if !strings.Contains(ce.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", ce.Msg, tc.msg)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("the error repeats the DSN's password: %v", err)
			}
		})
	}
}

// TestSecretKeyFile: the store's key file is read at load, as hex or base64, 32 bytes.
func TestSecretKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := bytes.Repeat([]byte{0xab}, 32)
	for name, text := range map[string]string{"hex": hex.EncodeToString(key) + "\n", "b64": "  " + base64.StdEncoding.EncodeToString(key)} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := parseConfig("m.toml", []byte("[store]\nbackend = \"postgres\"\ndsn = \"postgres://db.example/mm\"\nsecret_key_file = \""+p+"\"\n"))
		if err != nil || !bytes.Equal(c.Store.secretKey, key) {
			t.Fatalf("%s: %v %x", name, err, c.Store.secretKey)
		}
	}
}

func TestMissingConfigFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "nope.toml")
	_, err := LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), p) || !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"100", 100, true}, {"100MiB", 100 << 20, true}, {"1 GiB", 1 << 30, true},
		{"512KiB", 512 << 10, true}, {"2MB", 2_000_000, true}, {"7B", 7, true},
		{"", 0, false}, {"MiB", 0, false}, {"-1MiB", 0, false}, {"1.5GiB", 0, false}, {"10 parsecs", 0, false},
		{"99999999999TiB", 0, false},
	}
	for _, tc := range tests {
		got, err := parseByteSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
