// config.go: the TOML configuration file, its defaults and its validation, in one place
// (docs/configuration.md). Each package gets its own small Options built from this struct; none sees
// the whole file.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"multimail.dev/multimail/throttle"
)

// Config is the whole configuration file.
type Config struct {
	Hostname     string               `toml:"hostname"`
	DataDir      string               `toml:"data_dir"`
	Listen       ListenConfig         `toml:"listen"`
	TLS          TLSConfig            `toml:"tls"`
	DNS          DNSConfig            `toml:"dns"`
	Delivery     DeliveryConfig       `toml:"delivery"`
	Submission   SubmissionConfig     `toml:"submission"`
	API          APIConfig            `toml:"api"`
	Limits       LimitsConfig         `toml:"limits"`
	Storage      StorageConfig        `toml:"storage"`
	Store        StoreConfig          `toml:"store"`
	AuthThrottle AuthThrottleConfig   `toml:"auth_throttle"`
	Audit        AuditConfig          `toml:"audit"`
	Inbound      InboundConfig        `toml:"inbound"`
	Transport    []TransportConfig    `toml:"transport"`
	Domain       []DomainConfig       `toml:"domain"`
	Mailbox      []MailboxConfig      `toml:"mailbox"`
	Webhook      []WebhookConfig      `toml:"webhook"`
	ApprovalRule []ApprovalRuleConfig `toml:"approval_rule"`
	IPPool       []IPPoolConfig       `toml:"ip_pool"` // config_pools.go
	Pacing       PacingConfig         `toml:"pacing"`

	// TransportSecurity is [transport_security] (transportsec.go).
	TransportSecurity TransportSecurityConfig `toml:"transport_security"`

	// path is the file the config came from ("" for the embedded dev default); not in TOML.
	path string
}

// ListenConfig holds the listener addresses; an empty one disables that listener.
type ListenConfig struct {
	SMTP        string `toml:"smtp"`
	Submission  string `toml:"submission"`
	Submissions string `toml:"submissions"`
	IMAP        string `toml:"imap"`
	IMAPS       string `toml:"imaps"`
	HTTP        string `toml:"http"`
	// HTTPS serves what HTTP serves (API, console, /mcp, /metrics) over TLS, and answers ACME
	// TLS-ALPN-01 challenges when [tls] acme is on (then it must be reachable on port 443).
	HTTPS string `toml:"https"`
	// ACMEHTTP answers ACME HTTP-01 challenges (port 80) and redirects everything else to
	// https; only with [tls] acme.
	ACMEHTTP string `toml:"acme_http"`
}

// TLSConfig names a certificate and key; both empty means a self-signed pair in data_dir.
// ACME instead obtains and renews certificates (acme.go); SIGHUP re-reads the files (reload.go).
type TLSConfig struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// ACME obtains certificates for hostname, ACMENames and mta-sts.<domain> of every local
	// domain from an ACME CA (TLS-ALPN-01 on listen.https, HTTP-01 on listen.acme_http),
	// kept in data_dir/acme and renewed 30 days before they expire.
	ACME          bool     `toml:"acme"`
	ACMEEmail     string   `toml:"acme_email"`     // the account's contact address
	ACMEDirectory string   `toml:"acme_directory"` // default Let's Encrypt's production directory
	ACMENames     []string `toml:"acme_names"`     // more names: the API/console's public name
	// ACMECARoot is a PEM file of roots trusted for the directory's HTTPS (a private or test
	// CA such as pebble's); absent: the system roots.
	ACMECARoot string `toml:"acme_ca_root"`
}

// DNSConfig chooses the resolver used for MX, SPF, DKIM and DMARC lookups.
type DNSConfig struct {
	Resolver string `toml:"resolver"` // "ip:port"; empty: the system resolver
}

// DeliveryConfig tunes outbound delivery.
type DeliveryConfig struct {
	MaxLifetime          Duration `toml:"max_lifetime"`
	PerDomainConcurrency int      `toml:"per_domain_concurrency"`
	MinBackoff           Duration `toml:"min_backoff"`    // first retry of a deferred recipient
	MaxBackoff           Duration `toml:"max_backoff"`    // retries double up to this
	IPPoolHigh           string   `toml:"ip_pool_high"`   // [[ip_pool]] of a lane's mail when
	IPPoolNormal         string   `toml:"ip_pool_normal"` // neither its mailbox nor its domain
	IPPoolLow            string   `toml:"ip_pool_low"`    // names one
	MXPort               int      `toml:"mx_port"`        // the port dialled on MX hosts; default 25 (tests)
}

// SubmissionConfig tunes the submission listeners.
type SubmissionConfig struct {
	TrustedNetworks []string `toml:"trusted_networks"`
}

// APIConfig tunes the HTTP API.
type APIConfig struct {
	RateLimit float64 `toml:"rate_limit"` // requests per second per API key; negative: no limit
	RateBurst int     `toml:"rate_burst"` // requests a key may make at once above the rate
	// PublicURL is where people reach the HTTP API and console ("https://mail.example.com",
	// no path), when a reverse proxy or another name stands in front; the one-click links of
	// approval requests use it. Empty: derived from the listeners (consoleBaseURL).
	PublicURL string `toml:"public_url"`
}

// LimitsConfig holds process-wide resource limits. It caps the open connections of each kind of listener: smtp (the smtp,
// submission and submissions listeners together), imap (imap and imaps) and http. Past a cap a
// connection gets the protocol's refusal (421 4.7.0, * BYE, HTTP 503) and is closed, so a flood
// on one kind can neither exhaust the file descriptors nor starve the other kinds (/healthz).
// The per-kind keys override the general two for their kind; 0 or absent means the general.
type LimitsConfig struct {
	MaxConnections          int `toml:"max_connections"`        // per kind, in all
	MaxConnectionsPerIP     int `toml:"max_connections_per_ip"` // per kind, per client address (IPv6: /64)
	SMTPMaxConnections      int `toml:"smtp_max_connections"`
	SMTPMaxConnectionsPerIP int `toml:"smtp_max_connections_per_ip"`
	IMAPMaxConnections      int `toml:"imap_max_connections"`
	IMAPMaxConnectionsPerIP int `toml:"imap_max_connections_per_ip"`
	HTTPMaxConnections      int `toml:"http_max_connections"`
	HTTPMaxConnectionsPerIP int `toml:"http_max_connections_per_ip"`
	// Memory is the Go memory limit ("1GiB"); 0 or absent: GOMEMLIMIT, else 1 GiB. Half of
	// it is the budget large request bodies (API sends, IMAP APPEND) reserve (memory.go).
	Memory ByteSize `toml:"memory"`
	// MailboxQuota is the most bytes one mailbox's emails may take (mailbox.Usage: every email
	// counts its size, copies and held ones included); 0 or absent: no quota. Past it, inbound
	// SMTP is 452 4.2.2, IMAP APPEND and COPY NO [OVERQUOTA], local delivery is retried; the
	// Sent copy of a send is still stored (docs/imap.md, QUOTA). IMAP QUOTA reports it.
	MailboxQuota ByteSize `toml:"mailbox_quota"`
}

// Defaults of [limits]: three kinds at 1000 stay within a few thousand file descriptors (the
// soft limit is raised to the hard one at start); 200 per address leaves room for the load
// tool (50 SMTP sessions, 64 HTTP clients from 127.0.0.1), a NAT full of IMAP clients or a
// busy relay, while no single address can hold more than a fifth of a kind.
const (
	DefaultMaxConnections      = 1000
	DefaultMaxConnectionsPerIP = 200
)

// Kinds of capped listener.
const (
	kindSMTP = "smtp"
	kindIMAP = "imap"
	kindHTTP = "http"
)

// forKind returns the caps of one kind of listener.
func (l LimitsConfig) forKind(kind string) (max, perIP int) {
	max, perIP = l.MaxConnections, l.MaxConnectionsPerIP
	var m, p int
	switch kind {
	case kindSMTP:
		m, p = l.SMTPMaxConnections, l.SMTPMaxConnectionsPerIP
	case kindIMAP:
		m, p = l.IMAPMaxConnections, l.IMAPMaxConnectionsPerIP
	case kindHTTP:
		m, p = l.HTTPMaxConnections, l.HTTPMaxConnectionsPerIP
	}
	if m > 0 {
		max = m
	}
	if p > 0 {
		perIP = p
	}
	return max, perIP
}

// StoreConfig chooses where the directory and the mailboxes live (docs/postgresql.md).
type StoreConfig struct {
	Backend     string `toml:"backend"`      // "pebble" (default) or "postgres"
	DSN         string `toml:"dsn"`          // backend = "postgres": libpq URL or key=value string
	AutoMigrate *bool  `toml:"auto_migrate"` // migrate the schema at start (default true)
	// SecretKeyFile holds the key (64 hex digits or 44 base64 characters: 32 bytes) that
	// encrypts domain records (DKIM and identity private keys) in PostgreSQL; every node the
	// same. secretKey is what it decodes to, read by validate.
	SecretKeyFile string `toml:"secret_key_file"`
	secretKey     []byte
	// LeaseTTL is how long a queue lease lasts on PostgreSQL: a node renews its leases every
	// third of it, so a dead node's messages move again after at most LeaseTTL.
	LeaseTTL Duration `toml:"lease_ttl"`
}

// Store backends.
const (
	backendPebble   = "pebble"
	backendPostgres = "postgres"
)

// defaultLeaseTTL is store.lease_ttl's default: a dead node's messages wait at most this long,
// and a live node renews its leases every 10 s.
const defaultLeaseTTL = 30 * time.Second

// autoMigrate reports whether serve migrates the PostgreSQL schema at start.
func (s StoreConfig) autoMigrate() bool { return s.AutoMigrate == nil || *s.AutoMigrate }

// StorageConfig is the free-space floor and the ballast (package diskfloor).
type StorageConfig struct {
	MinFree ByteSize `toml:"min_free"` // refuse new mail below this much free space; 0: no floor
	Ballast ByteSize `toml:"ballast"`  // reserve file released when the disk runs out; 0: none
}

// Storage defaults: a floor of four maximum-size messages (Postfix's queue_minfree rule of
// thumb is 1.5x message_size_limit; Pebble also needs room for a memtable flush), and a ballast
// the size of one memtable flush.
const (
	defaultMinFree = 4 * (25 << 20)
	defaultBallast = 64 << 20
)

// AuthThrottleConfig tunes the throttle of failed logins shared by IMAP, SMTP AUTH and the
// HTTP API's bearer keys (package throttle).
type AuthThrottleConfig struct {
	MaxFailures        int      `toml:"max_failures"`         // from one address (IPv6: /64); -1: off
	Backoff            Duration `toml:"backoff"`              // first refusal window, doubling
	MaxBackoff         Duration `toml:"max_backoff"`          // longest refusal window
	HalfLife           Duration `toml:"half_life"`            // failure counts halve per quiet period
	AccountMaxFailures int      `toml:"account_max_failures"` // on one account, from all addresses
	KnownFor           Duration `toml:"known_for"`            // a successful (address, account) pair passes
	MaxEntries         int      `toml:"max_entries"`          // bound of each table
}

// TransportConfig routes a domain ("*" for all) to a fixed next hop.
type TransportConfig struct {
	Domain  string `toml:"domain"`
	NextHop string `toml:"next_hop"`
	TLS     string `toml:"tls"`
}

// DomainConfig declares a local sender domain and its DKIM key.
type DomainConfig struct {
	Name         string `toml:"name"`
	DKIMSelector string `toml:"dkim_selector"`
	DKIMKey      string `toml:"dkim_key"`
	IPPool       string `toml:"ip_pool"` // [[ip_pool]] of its mailboxes' mail
}

// MailboxConfig declares a local mailbox.
type MailboxConfig struct {
	Address          string   `toml:"address"`
	Oversight        string   `toml:"oversight"`
	OversightAddress string   `toml:"oversight_address"`
	Password         string   `toml:"password"`
	PasswordHash     string   `toml:"password_hash"`
	APIKeys          []string `toml:"api_keys"`
	APIKeyHashes     []string `toml:"api_key_hashes"`
	IPPool           string   `toml:"ip_pool"`        // [[ip_pool]] its mail leaves through
	SendingDomain    string   `toml:"sending_domain"` // DKIM d= and bounce domain (config_pools.go)
}

// WebhookConfig is one Standard Webhooks endpoint.
type WebhookConfig struct {
	URL    string   `toml:"url"`
	Secret string   `toml:"secret"`
	Events []string `toml:"events"`
}

// ApprovalRuleConfig is one [[approval_rule]], evaluated in file order.
type ApprovalRuleConfig struct {
	Mailbox    string   `toml:"mailbox"`
	Tags       []string `toml:"tags"`
	Recipients []string `toml:"recipients"`
	Action     string   `toml:"action"`
}

// Duration is a time.Duration written as a Go duration string ("120h", "30s").
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q (want e.g. \"30s\", \"120h\")", b)
	}
	if v <= 0 {
		return fmt.Errorf("duration %q must be positive", b)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size in bytes, written as an integer or a string with a unit ("100MiB",
// "1GiB", "512KiB", "2MB"; units of 1000 and 1024 as their names say).
type ByteSize int64

// byteUnits are the accepted suffixes, longest first so "MiB" is not read as "B".
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// UnmarshalTOML accepts a non-negative integer or a string such as "100MiB".
func (b *ByteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("size %d must not be negative", x)
		}
		*b = ByteSize(x)
		return nil
	case string:
		n, err := parseByteSize(x)
		if err != nil {
			return err
		}
		*b = ByteSize(n)
		return nil
	}
	return fmt.Errorf("want a size like \"100MiB\" or a number of bytes, got %v", v)
}

func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q (want e.g. \"100MiB\", \"1GiB\" or a number of bytes)", s)
	}
	return n * mult, nil
}

// N returns the size in bytes.
func (b ByteSize) N() int64 { return int64(b) }

// ConfigError is a refused configuration: the file, the line (0 when unknown), the key and why.
type ConfigError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	return b.String()
}

// Event names a webhook may subscribe to (docs/api.md, Webhooks).
var webhookEvents = map[string]bool{
	"queued": true, "pending_approval": true, "approved": true, "rejected": true,
	"monitored": true, "delivered": true, "deferred": true, "bounced": true, "failed": true,
	"expired": true, "received": true, "scheduled": true, "cancelled": true,
	"complained": true, "unsubscribed": true, // after delivery: the recipient's report or click
	// the trust ladder (docs/oversight-controls.md)
	"oversight_requested": true, "oversight_approved": true, "oversight_rejected": true, "oversight_changed": true,
}

// defaultConfig returns the values every config starts from before the file is applied.
func defaultConfig() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return Config{
		Hostname: host,
		DataDir:  "./multimail-data",
		Delivery: DeliveryConfig{
			MaxLifetime:          Duration(120 * time.Hour),
			PerDomainConcurrency: 10,
			MinBackoff:           Duration(30 * time.Second),
			MaxBackoff:           Duration(time.Hour),
		},
		API:     APIConfig{RateLimit: 50, RateBurst: 100},
		Pacing:  defaultPacing(),
		Limits:  LimitsConfig{MaxConnections: DefaultMaxConnections, MaxConnectionsPerIP: DefaultMaxConnectionsPerIP},
		Storage: StorageConfig{MinFree: defaultMinFree, Ballast: defaultBallast},
		Audit:   AuditConfig{CheckpointEvery: defaultCheckpointEvery, CheckpointInterval: Duration(defaultCheckpointInterval)},
		AuthThrottle: AuthThrottleConfig{
			MaxFailures:        throttle.DefaultMaxFailures,
			Backoff:            Duration(throttle.DefaultBackoff),
			MaxBackoff:         Duration(throttle.DefaultMaxBackoff),
			HalfLife:           Duration(throttle.DefaultHalfLife),
			AccountMaxFailures: throttle.DefaultAccountMaxFailures,
			KnownFor:           Duration(throttle.DefaultKnownFor),
			MaxEntries:         throttle.DefaultMaxEntries,
		},
	}
}

// devConfig is the embedded dev default of docs/operations.md: loopback listeners on high ports,
// data in ./multimail-data, the domain localhost with the mailbox agent@localhost.
func devConfig() Config {
	c := defaultConfig()
	c.Hostname = "localhost"
	c.Listen = ListenConfig{
		SMTP:        "127.0.0.1:2525",
		Submission:  "127.0.0.1:2587",
		Submissions: "127.0.0.1:2465",
		IMAP:        "127.0.0.1:2143",
		IMAPS:       "127.0.0.1:2993",
		HTTP:        "127.0.0.1:8025",
	}
	c.Domain = []DomainConfig{{Name: "localhost", DKIMSelector: "mm1"}}
	c.Mailbox = []MailboxConfig{{Address: "agent@localhost", Oversight: "autonomous"}}
	c.path = "(embedded dev default)"
	return c
}

// LoadConfig reads, decodes and validates a config file. Unknown keys are errors.
func LoadConfig(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: err.Error()}
	}
	return parseConfig(path, src)
}

func parseConfig(path string, src []byte) (*Config, error) {
	c := defaultConfig()
	c.path = path
	md, err := toml.Decode(string(src), &c)
	if err != nil {
		return nil, tomlError(path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return nil, &ConfigError{File: path, Line: lineOfKey(src, k), Key: k.String(), Msg: "unknown key"}
	}
	if err := c.validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = path
			ce.Line = lineOfKey(src, keyPath(ce.Key))
		}
		return nil, err
	}
	return &c, nil
}

func tomlError(path string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &ConfigError{File: path, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
	}
	// Type mismatches come as plain errors: toml: line N (last key "k"): message.
	if m := tomlTypeError.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ConfigError{File: path, Line: line, Key: m[2], Msg: m[3]}
	}
	return &ConfigError{File: path, Msg: err.Error()}
}

var tomlTypeError = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// keyPath turns "mailbox[1].oversight" into the TOML key mailbox.oversight, with the table
// index kept in a form lineOfKey understands.
func keyPath(s string) toml.Key { return toml.Key(strings.Split(s, ".")) }

var tableIndex = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

// lineOfKey finds the line that sets key k (or opens its table), counting [[array]] tables
// so that "mailbox[1].oversight" lands in the second [[mailbox]]. 0 when not found.
func lineOfKey(src []byte, k toml.Key) int {
	if len(k) == 0 {
		return 0
	}
	table, want := "", 0
	leaf := k[len(k)-1]
	if m := tableIndex.FindStringSubmatch(leaf); m != nil && len(k) > 1 {
		leaf = m[1] // an array value: the line of its key
	}
	if len(k) > 1 {
		table = k[0]
		if m := tableIndex.FindStringSubmatch(table); m != nil {
			table = m[1]
			fmt.Sscan(m[2], &want)
		}
	}
	cur, seen, line := "", -1, 0
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(t, "[["):
			cur = strings.TrimSpace(strings.Trim(strings.SplitN(t, "#", 2)[0], "[] \t"))
			if cur == table {
				seen++
			}
		case strings.HasPrefix(t, "["):
			cur = strings.TrimSpace(strings.Trim(strings.SplitN(t, "#", 2)[0], "[] \t"))
			seen = 0
			if len(k) > 1 && cur == k[0] && leaf == k[0] {
				return line
			}
		default:
			name := strings.TrimSpace(strings.SplitN(t, "=", 2)[0])
			if name == leaf && cur == table && (seen == want || table == "") {
				return line
			}
		}
	}
	return 0
}

func (c *Config) validate() error {
	checks := []func() error{c.validateBasics, c.validateListen, c.validateAPI, c.validateLimits,
		c.validateAuthThrottle, c.validateDelivery,
		c.validateTransports, c.validateDomains, c.validateMailboxes, c.validateWebhooks,
		c.validateRules, c.validateAudit, c.validateInbound,
		c.validatePools, c.validatePacing, c.validateStore,
		c.validateTransportSecurity}
	for _, f := range checks {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateStore() error {
	switch c.Store.Backend {
	case "", backendPebble:
		c.Store.Backend = backendPebble
		if c.Store.DSN != "" {
			return bad("store.dsn", "is only for backend = %q", backendPostgres)
		}
		if c.Store.SecretKeyFile != "" {
			return bad("store.secret_key_file", "is only for backend = %q", backendPostgres)
		}
		if c.Store.LeaseTTL != 0 {
			return bad("store.lease_ttl", "is only for backend = %q", backendPostgres)
		}
	case backendPostgres:
		switch lt := c.Store.LeaseTTL.D(); {
		case lt == 0:
			c.Store.LeaseTTL = Duration(defaultLeaseTTL)
		case lt < time.Second || lt > time.Hour:
			return bad("store.lease_ttl", "must be between 1s and 1h, not %v", lt)
		}
		if c.Store.DSN == "" {
			return bad("store.backend", "%q needs store.dsn", backendPostgres)
		}
		if _, err := pgxpool.ParseConfig(c.Store.DSN); err != nil {
			return bad("store.dsn", "does not parse (%s)", pgDSNError(err))
		}
		if c.Store.SecretKeyFile != "" {
			key, err := readSecretKey(c.Store.SecretKeyFile)
			if err != nil {
				return bad("store.secret_key_file", "%v", err)
			}
			c.Store.secretKey = key
		}
	default:
		return bad("store.backend", "must be %q or %q, not %q", backendPebble, backendPostgres, c.Store.Backend)
	}
	return nil
}

// readSecretKey reads a 32-byte key written as 64 hex digits (`openssl rand -hex 32`) or
// in standard base64, surrounding white space ignored. The error never shows the file's bytes.
func readSecretKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	text := strings.TrimSpace(string(b))
	if key, err := hex.DecodeString(text); err == nil && len(key) == 32 {
		return key, nil
	}
	if key, err := base64.StdEncoding.DecodeString(text); err == nil && len(key) == 32 {
		return key, nil
	}
	return nil, fmt.Errorf("%s: want 32 bytes as 64 hex digits (openssl rand -hex 32) or base64", path)
}

// pgDSNError describes a DSN parse error without echoing the DSN (it may hold a password).
func pgDSNError(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap().Error()
	}
	return "not a libpq URL or key=value string"
}

func bad(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) validateBasics() error {
	if c.Hostname == "" || strings.ContainsAny(c.Hostname, " \t\r\n/") {
		return bad("hostname", "must be a host name")
	}
	if c.DataDir == "" {
		return bad("data_dir", "must not be empty")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return bad("tls.cert", "tls.cert and tls.key go together")
	}
	if err := c.validateACME(); err != nil {
		return err
	}
	if c.DNS.Resolver != "" {
		if _, err := netip.ParseAddrPort(c.DNS.Resolver); err != nil {
			return bad("dns.resolver", "want ip:port, got %q", c.DNS.Resolver)
		}
	}
	for i, n := range c.Submission.TrustedNetworks {
		if _, err := parsePrefix(n); err != nil {
			return bad(fmt.Sprintf("submission.trusted_networks[%d]", i), "%v", err)
		}
	}
	return nil
}

// parsePrefix accepts a CIDR or a bare address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad network %q (want CIDR like 127.0.0.1/32)", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (c *Config) validateListen() error {
	l := c.Listen
	for _, kv := range [][2]string{{"smtp", l.SMTP}, {"submission", l.Submission},
		{"submissions", l.Submissions}, {"imap", l.IMAP}, {"imaps", l.IMAPS}, {"http", l.HTTP},
		{"https", l.HTTPS}, {"acme_http", l.ACMEHTTP}} {
		if kv[1] == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(kv[1]); err != nil {
			return bad("listen."+kv[0], "want host:port, got %q", kv[1])
		}
	}
	return nil
}

// unsubscribeBase is the base of List-Unsubscribe links: [api] public_url when it is https
// (RFC 8058 needs HTTPS), else "" (sends asking for the links are refused).
func (c *Config) unsubscribeBase() string {
	if strings.HasPrefix(c.API.PublicURL, "https://") {
		return strings.TrimSuffix(c.API.PublicURL, "/")
	}
	return ""
}

func (c *Config) validateAPI() error {
	if u := c.API.PublicURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || strings.Trim(pu.Path, "/") != "" || pu.RawQuery != "" || pu.Fragment != "" || pu.User != nil {
			return bad("api.public_url", "%q is not an http(s) URL of a host without a path (the console is served under /console/)", u)
		}
	}
	if c.API.RateLimit > 0 && c.API.RateBurst < 1 {
		return bad("api.rate_burst", "must be at least 1 when api.rate_limit is set")
	}
	return nil
}

func (c *Config) validateLimits() error {
	l := c.Limits
	for _, kv := range []struct {
		key string
		v   int
		min int
	}{
		{"max_connections", l.MaxConnections, 1}, {"max_connections_per_ip", l.MaxConnectionsPerIP, 1},
		{"smtp_max_connections", l.SMTPMaxConnections, 0}, {"smtp_max_connections_per_ip", l.SMTPMaxConnectionsPerIP, 0},
		{"imap_max_connections", l.IMAPMaxConnections, 0}, {"imap_max_connections_per_ip", l.IMAPMaxConnectionsPerIP, 0},
		{"http_max_connections", l.HTTPMaxConnections, 0}, {"http_max_connections_per_ip", l.HTTPMaxConnectionsPerIP, 0},
	} {
		if kv.v < kv.min {
			return bad("limits."+kv.key, "must be at least %d, got %d", kv.min, kv.v)
		}
	}
	if l.MailboxQuota < 0 {
		return bad("limits.mailbox_quota", "must not be negative, got %d", l.MailboxQuota)
	}
	return nil
}

func (c *Config) validateAuthThrottle() error {
	t := c.AuthThrottle
	switch {
	case t.MaxFailures == 0 || t.MaxFailures < -1:
		return bad("auth_throttle.max_failures", "must be at least 1, or -1 to turn the throttle off")
	case t.AccountMaxFailures < 1:
		return bad("auth_throttle.account_max_failures", "must be at least 1")
	case t.MaxEntries < 1:
		return bad("auth_throttle.max_entries", "must be at least 1")
	case t.MaxBackoff < t.Backoff:
		return bad("auth_throttle.max_backoff", "must not be below auth_throttle.backoff")
	}
	return nil
}

func (c *Config) validateDelivery() error {
	if c.Delivery.PerDomainConcurrency < 1 || c.Delivery.PerDomainConcurrency > 1000 {
		return bad("delivery.per_domain_concurrency", "must be between 1 and 1000")
	}
	if c.Delivery.MaxBackoff < c.Delivery.MinBackoff {
		return bad("delivery.max_backoff", "must not be below delivery.min_backoff")
	}
	return nil
}

func (c *Config) validateTransports() error {
	for i, t := range c.Transport {
		k := fmt.Sprintf("transport[%d]", i)
		if t.Domain == "" {
			return bad(k+".domain", "required (a domain or \"*\")")
		}
		if _, _, err := net.SplitHostPort(t.NextHop); err != nil {
			return bad(k+".next_hop", "want host:port, got %q", t.NextHop)
		}
		switch t.TLS {
		case "", "none", "opportunistic", "required":
		default:
			return bad(k+".tls", "want none, opportunistic or required, got %q", t.TLS)
		}
	}
	return nil
}

var domainName = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

func (c *Config) validateDomains() error {
	seen := map[string]bool{}
	for i, d := range c.Domain {
		k := fmt.Sprintf("domain[%d]", i)
		name := strings.ToLower(d.Name)
		if !domainName.MatchString(name) {
			return bad(k+".name", "not a domain name: %q", d.Name)
		}
		if seen[name] {
			return bad(k+".name", "domain %q declared twice", d.Name)
		}
		seen[name] = true
	}
	return nil
}

var oversightModes = map[string]bool{"": true, "autonomous": true, "monitored": true,
	"gated_send": true, "gated_all": true, "read_only": true}

func (c *Config) validateMailboxes() error {
	for i, m := range c.Mailbox {
		k := fmt.Sprintf("mailbox[%d]", i)
		at := strings.LastIndexByte(m.Address, '@')
		if at < 1 || !c.isLocalDomain(m.Address[at+1:]) {
			return bad(k+".address", "%q must be local@domain with the domain declared in a [[domain]]", m.Address)
		}
		if !oversightModes[m.Oversight] {
			return bad(k+".oversight", "want autonomous, monitored, gated_send, gated_all or read_only, got %q", m.Oversight)
		}
		if m.Password != "" && m.PasswordHash != "" {
			return bad(k+".password", "set password or password_hash, not both")
		}
		for j, key := range m.APIKeys {
			if len(key) < 16 {
				return bad(fmt.Sprintf("%s.api_keys[%d]", k, j), "an API key needs at least 16 characters")
			}
		}
	}
	return nil
}

func (c *Config) isLocalDomain(d string) bool {
	for _, x := range c.Domain {
		if strings.EqualFold(x.Name, d) {
			return true
		}
	}
	return false
}

func (c *Config) validateWebhooks() error {
	for i, w := range c.Webhook {
		k := fmt.Sprintf("webhook[%d]", i)
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(k+".url", "want an http(s) URL, got %q", w.URL)
		}
		raw, ok := strings.CutPrefix(w.Secret, "whsec_")
		if b, err := base64.StdEncoding.DecodeString(raw); !ok || err != nil || len(b) < 16 {
			return bad(k+".secret", "want a Standard Webhooks secret \"whsec_<base64 of 16 to 64 bytes>\"")
		}
		for _, e := range w.Events {
			if !webhookEvents[e] {
				return bad(k+".events", "unknown event %q", e)
			}
		}
	}
	return nil
}

func (c *Config) validateRules() error {
	for i, r := range c.ApprovalRule {
		k := fmt.Sprintf("approval_rule[%d]", i)
		switch r.Action {
		case "auto_approve", "require_approval", "reject":
		default:
			return bad(k+".action", "want auto_approve, require_approval or reject, got %q", r.Action)
		}
	}
	return nil
}

// InboundConfig tunes port 25.
type InboundConfig struct {
	// Postmaster is the mailbox that receives postmaster@ and abuse@ of every local domain
	// without a mailbox of that name (RFC 5321 §4.5.1, RFC 2142); empty: the domain's first
	// mailbox by address.
	Postmaster string `toml:"postmaster"`
}

func (c *Config) validateInbound() error {
	pm := c.Inbound.Postmaster
	if pm == "" {
		return nil
	}
	local, domain, ok := strings.Cut(pm, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(pm, " \t\r\n<>\"") {
		return bad("inbound.postmaster", "must be the address of a mailbox")
	}
	return nil
}
