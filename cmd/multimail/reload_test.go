package main

import (
	"slices"
	"strings"
	"testing"
)

// TestReloadPlan: the reloadable parts (domains, mailboxes, webhooks, rules, cert and key)
// come from the new file; everything else keeps its running value and is named as needing
// a restart.
func TestReloadPlan(t *testing.T) {
	t.Parallel()
	base := "hostname = \"mx.example.com\"\ndata_dir = \"/d\"\n[listen]\nsmtp = \"127.0.0.1:25\"\n" +
		"[tls]\ncert = \"/a.pem\"\nkey = \"/a.key\"\n[[domain]]\nname = \"example.com\"\n"
	cur, err := parseConfig("m.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.NewReplacer("127.0.0.1:25", "127.0.0.1:2525", "/a.pem", "/b.pem", "/a.key", "/b.key").Replace(base) +
		"[[domain]]\nname = \"example.org\"\n[[mailbox]]\naddress = \"a@example.org\"\n" +
		"[delivery]\nper_domain_concurrency = 3\n"
	c, err := parseConfig("m.toml", []byte(changed))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cfg: cur}
	next, restart := n.reloadPlan(c)
	if len(next.Domain) != 2 || len(next.Mailbox) != 1 || next.TLS.Cert != "/b.pem" || next.TLS.Key != "/b.key" {
		t.Errorf("reloadable parts not taken: %+v", next)
	}
	if next.Listen.SMTP != "127.0.0.1:25" || next.Delivery.PerDomainConcurrency != 10 {
		t.Errorf("restart-only parts changed: listen %+v delivery %+v", next.Listen, next.Delivery)
	}
	slices.Sort(restart)
	if want := []string{"delivery.per_domain_concurrency", "listen.smtp"}; !slices.Equal(restart, want) {
		t.Errorf("restart = %v, want %v", restart, want)
	}
	// Turning ACME on is a restart, and the files stay the running ones.
	acme := strings.Replace(base, "[tls]\ncert = \"/a.pem\"\nkey = \"/a.key\"\n",
		"[listen]\nhttps = \"127.0.0.1:443\"\n[tls]\nacme = true\n", 1)
	acme = strings.Replace(acme, "[listen]\nsmtp = \"127.0.0.1:25\"\n[listen]\n", "[listen]\nsmtp = \"127.0.0.1:25\"\n", 1)
	c, err = parseConfig("m.toml", []byte(acme))
	if err != nil {
		t.Fatal(err)
	}
	next, restart = n.reloadPlan(c)
	if next.TLS.ACME || next.TLS.Cert != "/a.pem" || !slices.Contains(restart, "tls.acme") || !slices.Contains(restart, "listen.https") {
		t.Errorf("acme on: next tls %+v, restart %v", next.TLS, restart)
	}
}

func TestACMEConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, src, key, msg string }{
		{"ok", "hostname = \"mx.example.com\"\n[listen]\nhttps = \"127.0.0.1:443\"\n[tls]\nacme = true\nacme_email = \"a@example.com\"\n", "", ""},
		{"ok http-01", "hostname = \"mx.example.com\"\n[listen]\nacme_http = \"127.0.0.1:80\"\n[tls]\nacme = true\n", "", ""},
		{"no listener", "hostname = \"mx.example.com\"\n[tls]\nacme = true\n", "tls.acme", "listen.https"},
		{"with files", "hostname = \"mx.example.com\"\n[listen]\nhttps = \":443\"\n[tls]\nacme = true\ncert = \"a\"\nkey = \"b\"\n", "tls.acme", "not both"},
		{"short host", "hostname = \"mx\"\n[listen]\nhttps = \":443\"\n[tls]\nacme = true\n", "hostname", "fully qualified"},
		{"http directory", "hostname = \"mx.example.com\"\n[listen]\nhttps = \":443\"\n[tls]\nacme = true\nacme_directory = \"http://ca/dir\"\n", "tls.acme_directory", "https"},
		{"bad name", "hostname = \"mx.example.com\"\n[listen]\nhttps = \":443\"\n[tls]\nacme = true\nacme_names = [\"x y\"]\n", "tls.acme_names[0]", "domain"},
		{"keys without acme", "[tls]\nacme_email = \"a@example.com\"\n", "tls.acme", "acme = true"},
		{"acme_http without acme", "[listen]\nacme_http = \":80\"\n", "listen.acme_http", "acme = true"},
		{"bad https", "[listen]\nhttps = \"443\"\n", "listen.https", "host:port"},
	} {
		_, err := parseConfig("m.toml", []byte(tc.src))
		if tc.key == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		ce, ok := err.(*ConfigError)
		if !ok || ce.Key != tc.key || !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("%s: err = %v, want key %s and %q", tc.name, err, tc.key, tc.msg)
		}
	}
}
