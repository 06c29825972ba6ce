package main

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"

	"multimail.dev/multimail/api"
	"multimail.dev/multimail/api/console"
	"multimail.dev/multimail/mailbox"
)

// consoleBaseURL is where an overseer's browser reaches the console, for the one-click links
// of approval requests: https://<public name> when listen.https is set, else the HTTP
// listener's address, or the node's hostname when the listener is bound to every address.
func consoleBaseURL(c *Config) string {
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
