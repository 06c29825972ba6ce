package mta

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"multimail.dev/multimail/queue"
)

// ErrNoSource: the lease's IP pool has no source address usable for the next hop now (none
// of its address family, or every one past its warm-up quota for the day).
var ErrNoSource = errors.New("mta: no source address of the IP pool is usable")

// IPPool is a named set of local source addresses with the HELO name its connections greet
// with (an [[ip_pool]] of the config). Mail whose PoolFor names it leaves only from these
// addresses, over connections that never carry another pool's mail.
type IPPool struct {
	Name  string
	Addrs []netip.Addr // local addresses, IPv4 and/or IPv6; each must be configured on the host
	HELO  string       // the EHLO name; "" means Options.Hostname
	// Warmup, when set, caps the messages each address sends per UTC day: Warmup[0] on the
	// day of WarmupStart, Warmup[1] the day after, …; past the end of the list, no cap.
	Warmup      []int
	WarmupStart time.Time
}

// source is where a connection comes from: a pool's address and HELO name, or the default
// (the kernel's choice of address and Options.Hostname).
type source struct {
	pool string     // "" = default
	ip   netip.Addr // invalid = the kernel's choice
	helo string
}

// sources picks source addresses for pools: round robin over the addresses of the next
// hop's family, skipping those past their warm-up quota.
type sources struct {
	hostname string
	now      func() time.Time
	pools    map[string]*ipPoolState
	poolFor  func(*queue.Lease) string
}

type ipPoolState struct {
	IPPool
	mu   sync.Mutex
	next int
	day  string         // the UTC day the counts are for
	sent map[string]int // per address, messages counted today
}

func newSources(o Options) (*sources, error) {
	s := &sources{hostname: o.Hostname, now: o.Clock.Now, pools: map[string]*ipPoolState{},
		poolFor: o.PoolFor}
	for _, p := range o.IPPools {
		if p.Name == "" || s.pools[p.Name] != nil {
			return nil, fmt.Errorf("mta: ip pool %q: empty or duplicate name", p.Name)
		}
		if len(p.Addrs) == 0 {
			return nil, fmt.Errorf("mta: ip pool %q: no addresses", p.Name)
		}
		if p.HELO == "" {
			p.HELO = o.Hostname
		}
		s.pools[p.Name] = &ipPoolState{IPPool: p, sent: map[string]int{}}
	}
	return s, nil
}

// poolOf returns the pool name a lease's mail leaves through ("" = default).
func (s *sources) poolOf(l *queue.Lease) string {
	if s.poolFor == nil {
		return ""
	}
	name := s.poolFor(l)
	if s.pools[name] == nil {
		return ""
	}
	return name
}

// pick chooses a source of pool for a connection to addr ("ip:port") and counts one message
// on it against its warm-up quota. ErrNoSource (temporary) when none is usable now.
func (s *sources) pick(pool, addr string) (source, *Error) {
	p := s.pools[pool]
	if p == nil {
		return source{helo: s.hostname}, nil
	}
	host, _, _ := net.SplitHostPort(addr)
	dst, err := netip.ParseAddr(host)
	if err != nil {
		return source{}, temporary("4.4.0", ErrNoSource, "bad next-hop address %q", addr)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.roll(s.now())
	n := len(p.Addrs)
	family := false
	for i := range n {
		ip := p.Addrs[(p.next+i)%n]
		if ip.Unmap().Is4() != dst.Unmap().Is4() {
			continue
		}
		family = true
		if !p.take(ip, s.now()) {
			continue
		}
		p.next = (p.next + i + 1) % n
		return source{pool: pool, ip: ip, helo: p.HELO}, nil
	}
	if !family {
		return source{}, temporary("4.4.0", ErrNoSource, "ip pool %s has no IPv%s source address for %s",
			pool, map[bool]string{true: "4", false: "6"}[dst.Unmap().Is4()], host)
	}
	return source{}, temporary("4.7.0", ErrNoSource, "ip pool %s: every address is past its warm-up quota for today", pool)
}

// count charges one more message to src (a reused connection), false when past its quota.
func (s *sources) count(src source) bool {
	p := s.pools[src.pool]
	if p == nil || len(p.Warmup) == 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.roll(s.now())
	return p.take(src.ip, s.now())
}

// roll starts a new day's counts.
func (p *ipPoolState) roll(now time.Time) {
	if day := now.UTC().Format(time.DateOnly); day != p.day {
		p.day = day
		clear(p.sent)
	}
}

// take counts one message on ip if its quota allows.
func (p *ipPoolState) take(ip netip.Addr, now time.Time) bool {
	if q, ok := p.quota(now); ok && p.sent[ip.String()] >= q {
		return false
	}
	p.sent[ip.String()]++
	return true
}

// quota is the warm-up cap per address today; false when there is none.
func (p *ipPoolState) quota(now time.Time) (int, bool) {
	if len(p.Warmup) == 0 {
		return 0, false
	}
	day := 0
	if !p.WarmupStart.IsZero() {
		day = int(now.UTC().Sub(p.WarmupStart.UTC()).Hours() / 24)
	}
	day = max(day, 0)
	if day >= len(p.Warmup) {
		return 0, false
	}
	return p.Warmup[day], true
}

// nextDay is the start of the next UTC day: when warm-up quotas reset.
func nextDay(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// localAddr is the dialer's LocalAddr for src (nil: the kernel's choice).
func (src source) localAddr() net.Addr {
	if !src.ip.IsValid() {
		return nil
	}
	return &net.TCPAddr{IP: src.ip.AsSlice(), Zone: src.ip.Zone()}
}

// String names src in the trail: its address, or "" for the default.
func (src source) String() string {
	if !src.ip.IsValid() {
		return ""
	}
	return src.ip.String()
}
