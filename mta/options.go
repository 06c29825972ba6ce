package mta

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/queue"
)

// TLSPolicy says how a connection uses STARTTLS (RFC 3207).
type TLSPolicy string

// TLS policies. Certificates are not verified under none, opportunistic and required (RFC 7435
// opportunistic security, Postfix's "may" and "encrypt" levels) unless Options.TLSConfig asks
// for it; verify (Postfix's "secure") is what MTA-STS enforce and REQUIRETLS ask for.
const (
	// TLSNone never sends STARTTLS.
	TLSNone TLSPolicy = "none"
	// TLSOpportunistic uses STARTTLS when offered and falls back to plain text when it is not
	// offered or the handshake fails.
	TLSOpportunistic TLSPolicy = "opportunistic"
	// TLSRequired defers the delivery when STARTTLS is not offered or the handshake fails.
	TLSRequired TLSPolicy = "required"
	// TLSVerify defers the delivery unless STARTTLS succeeds with a certificate that is valid
	// (PKIX, STSOptions.RootCAs or the system roots) for the host name: what an enforce
	// MTA-STS policy asks (RFC 8461 §4.2).
	TLSVerify TLSPolicy = "verify"
)

// ParseTLSPolicy parses "none", "opportunistic", "required" or "verify"; "" means opportunistic.
func ParseTLSPolicy(s string) (TLSPolicy, error) {
	switch p := TLSPolicy(s); p {
	case "":
		return TLSOpportunistic, nil
	case TLSNone, TLSOpportunistic, TLSRequired, TLSVerify:
		return p, nil
	}
	return "", fmt.Errorf("mta: unknown TLS policy %q (want none, opportunistic, required or verify)", s)
}

// DSNFunc receives a rendered delivery status notification: a message with the null sender,
// addressed to the original sender. The caller decides where it goes (queue.Enqueue, or
// straight into a local mailbox's INBOX).
type DSNFunc func(ctx context.Context, dsn *queue.Message) error

// Options configures a Deliverer. Zero values take the documented defaults.
type Options struct {
	// Hostname is the EHLO name and the DSN's Reporting-MTA; default os.Hostname().
	Hostname string
	// Transports route domains to fixed next hops, like Postfix transport(5): an exact domain
	// match wins over "*".
	Transports []Transport
	// Resolver answers MX and address lookups: the node's shared *dnsclient.Client, which
	// caches answers for their TTL. nil: a dnsclient.Client of its own asking
	// /etc/resolv.conf's servers.
	Resolver Resolver
	// MXPort is the port dialled on MX hosts; default 25 (tests point it at a loopback MX).
	MXPort int
	// TLSPolicy applies to MX routes and to transports that set none; default opportunistic.
	TLSPolicy TLSPolicy
	// TLSConfig is the base client TLS configuration; nil means TLS 1.2+ without certificate
	// verification (opportunistic security). ServerName is set per host.
	TLSConfig *tls.Config

	ConnectTimeout time.Duration // TCP connect; default 30s
	CommandTimeout time.Duration // greeting and each command's reply; default 5m (RFC 5321 §4.5.3.2)
	DataTimeout    time.Duration // sending the body and the final reply; default 10m

	HighWorkers int // workers serving only the high lane; default 8
	BulkWorkers int // workers serving high, normal and low; default 32

	MaxIdlePerHost int           // idle connections kept per next hop; default HighWorkers+BulkWorkers
	IdleTimeout    time.Duration // an idle connection is closed after this; default 10s
	MaxConnUses    int           // messages per connection before it is closed; default 100

	// IPPools are the named source-address pools (docs/deliverability.md); PoolFor names the
	// pool of a lease's mail ("" or an unknown name: the default source, the kernel's choice
	// of address and Hostname as the EHLO name). Both nil: every connection is default.
	IPPools []IPPool
	PoolFor func(*queue.Lease) string

	// Pacing limits the rate per destination (the MX host's provider) and slows down on
	// throttling replies; the zero value takes the documented defaults (pacing.go).
	Pacing Pacing
	// PacingStateFile keeps the destinations' slow-downs and pauses and the IP pools' warm-up
	// counts across restarts (pacing_state.go); "" keeps them in memory only.
	PacingStateFile string

	// Local, when set, delivers mail for the node's own domains into its mailboxes; it wins
	// over Transports and MX routing.
	Local Local

	// DANE applies TLSA records (RFC 7672) found in DNSSEC-validated answers: set it only
	// when Resolver is a *dnsclient.Client asking a validating resolver whose AD bit can be
	// trusted (on loopback or a protected link). DANE beats MTA-STS.
	DANE bool
	// MTASTS, when set, applies recipient domains' MTA-STS policies (RFC 8461) to MX routes.
	MTASTS *STSOptions
	// TLSRPT, when set, records TLS-RPT (RFC 8460) session counts per policy domain and
	// writes daily reports; it needs MTASTS.
	TLSRPT *TLSRPTOptions

	// DSN receives the DSNs for bounced and failed recipients; nil drops them (logged).
	DSN DSNFunc

	Clock      queue.Clock           // nil: the real clock
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: no metrics registered
}

func (o Options) withDefaults() Options {
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
		if o.Hostname == "" {
			o.Hostname = "localhost"
		}
	}
	setDefault(&o.MXPort, 25)
	if o.TLSPolicy == "" {
		o.TLSPolicy = TLSOpportunistic
	}
	setDefault(&o.ConnectTimeout, 30*time.Second)
	setDefault(&o.CommandTimeout, 5*time.Minute)
	setDefault(&o.DataTimeout, 10*time.Minute)
	setDefault(&o.HighWorkers, 8)
	setDefault(&o.BulkWorkers, 32)
	setDefault(&o.MaxIdlePerHost, o.HighWorkers+o.BulkWorkers)
	setDefault(&o.IdleTimeout, 10*time.Second)
	setDefault(&o.MaxConnUses, 100)
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
