package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"multimail.dev/multimail/api"
	"multimail.dev/multimail/api/console"
	"multimail.dev/multimail/mailbox"
)

// linkKeyFile holds the HMAC key of the one-click links in the data dir (0600), so links
// mailed before a restart still work.
const linkKeyFile = "console-links.key"

// loadLinkKey reads the link key, making it on first use.
func loadLinkKey(dataDir string) ([]byte, error) {
	p := filepath.Join(dataDir, linkKeyFile)
	k, err := os.ReadFile(p)
	if err == nil {
		if len(k) != 32 {
			return nil, fmt.Errorf("%s: %d bytes, want 32 (delete it to make a new key; links already mailed stop working)", p, len(k))
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k = make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := writeNewFile(p, k); err != nil {
		return nil, fmt.Errorf("link key: %w", err)
	}
	return k, nil
}

// consoleBaseURL is where an overseer's browser reaches the console, for the one-click links
// of approval requests: [api] public_url when set (a reverse proxy in front), else
// https://<public name> when listen.https is set, else the HTTP listener's address, or the
// node's hostname when the listener is bound to every address.
func consoleBaseURL(c *Config) string {
	if c.API.PublicURL != "" {
		return strings.TrimSuffix(c.API.PublicURL, "/")
	}
	if c.Listen.HTTPS != "" {
		// The public name: the first [tls] acme_names entry (the API/console's name), else
		// the host name; the port only when it is not 443.
		name := c.Hostname
		if len(c.TLS.ACMENames) > 0 {
			name = c.TLS.ACMENames[0]
		}
		if _, port, err := net.SplitHostPort(c.Listen.HTTPS); err == nil && port != "443" {
			name = net.JoinHostPort(name, port)
		}
		return "https://" + name
	}
	listen, hostname := c.Listen.HTTP, c.Hostname
	if listen == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = hostname
	}
	return "http://" + net.JoinHostPort(host, port)
}

// oversightLeak is a mailbox whose approval requests would reach someone the agent is.
type oversightLeak struct{ mailbox, oversight, why string }

// oversightLeaks finds mailboxes whose oversight address the agent itself can read: the
// mailbox itself (its password opens it over IMAP), or a local mailbox that a key able to
// send as the mailbox can also read. A one-click link mailed there would let the agent
// approve its own sends, so the node mints none for them and says so loudly at start.
func oversightLeaks(ctx context.Context, st mailbox.Store) ([]oversightLeak, error) {
	mbs, err := st.Mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := st.APIKeys(ctx)
	if err != nil {
		return nil, err
	}
	covers := func(k mailbox.APIKey, addr string) bool {
		return slices.ContainsFunc(k.Mailboxes, func(m string) bool { return m == mailbox.AllMailboxes || strings.EqualFold(m, addr) })
	}
	var out []oversightLeak
	for _, m := range mbs {
		o := m.OversightAddress
		if o == "" {
			continue
		}
		if strings.EqualFold(o, m.Address) {
			out = append(out, oversightLeak{m.Address, o, "the oversight address is the agent's own mailbox"})
			continue
		}
		if _, err := st.Mailbox(ctx, o); err != nil {
			continue // not local: outside our reach to judge
		}
		for _, k := range keys {
			sc := mailbox.UsableScopes(k.Scopes)
			if covers(k, m.Address) && mailbox.ScopeHeld(sc, mailbox.ScopeSend) && covers(k, o) && mailbox.ScopeHeld(sc, mailbox.ScopeRead) {
				out = append(out, oversightLeak{m.Address, o, "the agent's key " + k.ID + " can read the oversight mailbox"})
				break
			}
		}
	}
	return out, nil
}

// consoleHandler mounts the console at /console/ in front of the API's handler.
func consoleHandler(c *console.Console, a *api.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/console/", c.Handler())
	mux.Handle("/console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	mux.Handle("/", a.Handler())
	return mux
}
