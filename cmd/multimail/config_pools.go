// config_pools.go: the [[ip_pool]] and [pacing] sections (docs/deliverability.md) and their
// translation into mta.Options.
package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"multimail.dev/multimail/api"
	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/queue"
)

// IPPoolConfig is one [[ip_pool]]: local source addresses and the HELO name they greet with.
type IPPoolConfig struct {
	Name        string   `toml:"name"`
	Addresses   []string `toml:"addresses"`
	HELO        string   `toml:"helo"`
	Warmup      []int    `toml:"warmup"`       // messages per address per UTC day, from warmup_start
	WarmupStart string   `toml:"warmup_start"` // "2026-12-01": day 1 of warmup; required with it
}

// PacingConfig is [pacing]: per-destination limits (mta.Pacing).
type PacingConfig struct {
	Enabled               bool                  `toml:"enabled"`
	MessagesPerConnection int                   `toml:"messages_per_connection"`
	MessagesPerMinute     float64               `toml:"messages_per_minute"`
	Burst                 int                   `toml:"burst"`
	HighReserve           float64               `toml:"high_reserve"`
	MaxWait               Duration              `toml:"max_wait"`
	ThrottleBackoff       Duration              `toml:"throttle_backoff"`
	MaxThrottleBackoff    Duration              `toml:"max_throttle_backoff"`
	Destination           []PacingDestinationCf `toml:"destination"`
}

// PacingDestinationCf overrides the rate of one destination key ("google.com").
type PacingDestinationCf struct {
	Name              string  `toml:"name"`
	MessagesPerMinute float64 `toml:"messages_per_minute"`
}

// Pacing defaults (docs/deliverability.md): no provider publishes its limits, so these are
// deliberately low for one destination and high enough for a login-code service.
const (
	defaultPerConnection = 100
	defaultPerMinute     = 300
)

// pacingStateFile, in data_dir, keeps the pacing slow-downs and pauses and the warm-up counts
// across restarts (mta.Options.PacingStateFile).
const pacingStateFile = "pacing.json"

func defaultPacing() PacingConfig {
	return PacingConfig{Enabled: true, MessagesPerConnection: defaultPerConnection,
		MessagesPerMinute: defaultPerMinute, HighReserve: 0.25, MaxWait: Duration(2 * time.Second),
		ThrottleBackoff: Duration(time.Minute), MaxThrottleBackoff: Duration(30 * time.Minute)}
}

func (c *Config) validatePools() error {
	names := map[string]bool{}
	for i, p := range c.IPPool {
		k := fmt.Sprintf("ip_pool[%d]", i)
		if p.Name == "" || strings.ContainsAny(p.Name, " \t\r\n") {
			return bad(k+".name", "required, without spaces")
		}
		if names[p.Name] {
			return bad(k+".name", "pool %q declared twice", p.Name)
		}
		names[p.Name] = true
		if len(p.Addresses) == 0 {
			return bad(k+".addresses", "at least one local address")
		}
		for j, a := range p.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil || ip.IsUnspecified() || ip.IsMulticast() {
				return bad(fmt.Sprintf("%s.addresses[%d]", k, j), "want an IPv4 or IPv6 address, got %q", a)
			}
		}
		if p.HELO != "" && !domainName.MatchString(p.HELO) {
			return bad(k+".helo", "want a host name, got %q", p.HELO)
		}
		for j, n := range p.Warmup {
			if n < 1 {
				return bad(fmt.Sprintf("%s.warmup[%d]", k, j), "messages per day must be at least 1")
			}
		}
		if len(p.Warmup) > 0 && p.WarmupStart == "" {
			return bad(k+".warmup_start", "required with warmup: the date of its first day")
		}
		if p.WarmupStart != "" {
			if _, err := time.Parse(time.DateOnly, p.WarmupStart); err != nil {
				return bad(k+".warmup_start", "want a date like \"2026-12-01\", got %q", p.WarmupStart)
			}
		}
	}
	ref := func(key, name string) error {
		if name != "" && !names[name] {
			return bad(key, "no [[ip_pool]] named %q", name)
		}
		return nil
	}
	for i, m := range c.Mailbox {
		if err := ref(fmt.Sprintf("mailbox[%d].ip_pool", i), m.IPPool); err != nil {
			return err
		}
		if err := c.validateSendingDomain(fmt.Sprintf("mailbox[%d].sending_domain", i), m); err != nil {
			return err
		}
	}
	for i, d := range c.Domain {
		if err := ref(fmt.Sprintf("domain[%d].ip_pool", i), d.IPPool); err != nil {
			return err
		}
	}
	for _, kv := range [][2]string{{"ip_pool_high", c.Delivery.IPPoolHigh},
		{"ip_pool_normal", c.Delivery.IPPoolNormal}, {"ip_pool_low", c.Delivery.IPPoolLow}} {
		if err := ref("delivery."+kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// validateSendingDomain: a mailbox's sending domain is a declared [[domain]] (so it has a
// DKIM key and receives its bounces) and the mailbox's domain or a subdomain of it, so that
// DKIM and SPF stay aligned with the From: domain under DMARC's relaxed alignment.
func (c *Config) validateSendingDomain(key string, m MailboxConfig) error {
	sd := strings.ToLower(strings.TrimSuffix(m.SendingDomain, "."))
	if sd == "" {
		return nil
	}
	_, own, _ := strings.Cut(strings.ToLower(m.Address), "@")
	if sd != own && !strings.HasSuffix(sd, "."+own) {
		return bad(key, "%q must be %s or a subdomain of it (DMARC alignment)", m.SendingDomain, own)
	}
	if !c.isLocalDomain(sd) {
		return bad(key, "%q must be declared in a [[domain]] (its DKIM key, its bounces)", m.SendingDomain)
	}
	return nil
}

// sendingDomain returns submission.Options.SendingDomain: a mailbox's sending_domain.
func (c *Config) sendingDomain() func(string) string {
	m := map[string]string{}
	for _, mb := range c.Mailbox {
		if mb.SendingDomain != "" {
			m[strings.ToLower(mb.Address)] = strings.ToLower(strings.TrimSuffix(mb.SendingDomain, "."))
		}
	}
	if len(m) == 0 {
		return nil
	}
	return func(addr string) string { return m[strings.ToLower(addr)] }
}

func (c *Config) validatePacing() error {
	p := c.Pacing
	switch {
	case p.MessagesPerConnection < 1:
		return bad("pacing.messages_per_connection", "must be at least 1")
	case p.MessagesPerMinute <= 0:
		return bad("pacing.messages_per_minute", "must be positive")
	case p.Burst < 0:
		return bad("pacing.burst", "must not be negative")
	case p.HighReserve < 0 || p.HighReserve >= 1:
		return bad("pacing.high_reserve", "must be in [0, 1)")
	case p.MaxThrottleBackoff < p.ThrottleBackoff:
		return bad("pacing.max_throttle_backoff", "must not be below pacing.throttle_backoff")
	}
	for i, d := range p.Destination {
		k := fmt.Sprintf("pacing.destination[%d]", i)
		if d.Name == "" {
			return bad(k+".name", "required: a provider's domain (\"google.com\") or an IP")
		}
		if d.MessagesPerMinute <= 0 {
			return bad(k+".messages_per_minute", "must be positive")
		}
	}
	return nil
}

// ipPools converts [[ip_pool]] for package mta (validated: the addresses parse).
func (c *Config) ipPools() []mta.IPPool {
	var out []mta.IPPool
	for _, p := range c.IPPool {
		mp := mta.IPPool{Name: p.Name, HELO: p.HELO, Warmup: p.Warmup}
		if mp.HELO == "" {
			mp.HELO = c.Hostname
		}
		for _, a := range p.Addresses {
			mp.Addrs = append(mp.Addrs, netip.MustParseAddr(a))
		}
		if p.WarmupStart != "" {
			mp.WarmupStart, _ = time.Parse(time.DateOnly, p.WarmupStart)
		}
		out = append(out, mp)
	}
	return out
}

// sourcePools is what domain dns and domain check need of the pools.
func (c *Config) sourcePools() []api.SourcePool {
	var out []api.SourcePool
	for _, p := range c.ipPools() {
		out = append(out, api.SourcePool{Name: p.Name, HELO: p.HELO, Addrs: p.Addrs})
	}
	return out
}

// poolFor returns mta.Options.PoolFor: a mailbox's ip_pool, else its domain's, else its
// lane's; "" (the default source) otherwise.
func (c *Config) poolFor() func(*queue.Lease) string {
	byMailbox, byDomain := map[string]string{}, map[string]string{}
	for _, m := range c.Mailbox {
		if m.IPPool != "" {
			byMailbox[strings.ToLower(m.Address)] = m.IPPool
		}
	}
	for _, d := range c.Domain {
		if d.IPPool != "" {
			byDomain[strings.ToLower(d.Name)] = d.IPPool
		}
	}
	byLane := map[queue.Lane]string{queue.LaneHigh: c.Delivery.IPPoolHigh,
		queue.LaneNormal: c.Delivery.IPPoolNormal, queue.LaneLow: c.Delivery.IPPoolLow}
	if len(byMailbox)+len(byDomain) == 0 && byLane[queue.LaneHigh]+byLane[queue.LaneNormal]+byLane[queue.LaneLow] == "" {
		return nil
	}
	return func(l *queue.Lease) string {
		mb := strings.ToLower(l.Mailbox)
		if p := byMailbox[mb]; p != "" {
			return p
		}
		if _, dom, ok := strings.Cut(mb, "@"); ok && byDomain[dom] != "" {
			return byDomain[dom]
		}
		return byLane[l.Lane]
	}
}

// pacing converts [pacing] for package mta.
func (c *Config) pacing() mta.Pacing {
	p := c.Pacing
	mp := mta.Pacing{Off: !p.Enabled, PerMinute: p.MessagesPerMinute, Burst: p.Burst,
		HighReserve: p.HighReserve, MaxWait: p.MaxWait.D(), ThrottleBackoff: p.ThrottleBackoff.D(),
		MaxThrottleBackoff: p.MaxThrottleBackoff.D()}
	if p.HighReserve == 0 {
		mp.HighReserve = 1e-9 // 0 means "the default" to package mta; this is "no reserve"
	}
	for _, d := range p.Destination {
		if mp.PerDestination == nil {
			mp.PerDestination = map[string]float64{}
		}
		mp.PerDestination[strings.ToLower(d.Name)] = d.MessagesPerMinute
	}
	return mp
}
