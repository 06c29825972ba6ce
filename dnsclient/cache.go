package dnsclient

import (
	"container/list"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// key is the cache key: (name, type, class, DO bit). name is lower-case and absolute.
type key struct {
	name   string
	qtype  uint16
	qclass uint16
	do     bool
}

func keyOf(q Question) key {
	class := q.Class
	if class == 0 {
		class = dns.ClassINET
	}
	return key{name: dns.Fqdn(strings.ToLower(q.Name)), qtype: q.Type, qclass: class, do: q.DNSSECOK}
}

// String is the singleflight key.
func (k key) String() string {
	do := "0"
	if k.do {
		do = "1"
	}
	return k.name + "\x00" + strconv.Itoa(int(k.qtype)) + "\x00" + strconv.Itoa(int(k.qclass)) + "\x00" + do
}

// display is the name as net.DNSError shows it: without the final dot.
func (k key) display() string { return strings.TrimSuffix(k.name, ".") }

// cache is a size-bounded LRU of responses with expiry times.
type cache struct {
	max                      int
	maxTTL, maxNeg, servFail time.Duration

	mu sync.Mutex
	ll *list.List // of *entry, most recently used first
	m  map[key]*list.Element
}

type entry struct {
	k   key
	msg *dns.Msg
	exp time.Time
}

func newCache(cfg Config) *cache {
	c := &cache{max: cfg.CacheSize, maxTTL: cfg.MaxTTL, maxNeg: cfg.MaxNegativeTTL,
		servFail: cfg.ServFailTTL, ll: list.New(), m: make(map[key]*list.Element)}
	if c.max == 0 {
		c.max = 10000
	}
	if c.maxTTL <= 0 {
		c.maxTTL = time.Hour
	}
	if c.maxNeg <= 0 {
		c.maxNeg = 15 * time.Minute
	}
	if c.servFail == 0 {
		c.servFail = 10 * time.Second
	}
	return c
}

// get returns the live entry of k, and makes it the most recently used. An expired entry is
// removed.
func (c *cache) get(k key, now time.Time) (*entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.exp) {
		c.ll.Remove(el)
		delete(c.m, k)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e, true
}

// put keeps msg for the time ttl says, if any, and returns how many entries it evicted to
// stay within the bound.
func (c *cache) put(k key, msg *dns.Msg, now time.Time) (evicted int) {
	d, ok := ttl(msg, c.maxTTL, c.maxNeg, c.servFail)
	if !ok {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		el.Value = &entry{k: k, msg: msg, exp: now.Add(d)}
		c.ll.MoveToFront(el)
		return 0
	}
	c.m[k] = c.ll.PushFront(&entry{k: k, msg: msg, exp: now.Add(d)})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*entry).k)
		evicted++
	}
	return evicted
}

// len returns the number of entries, expired ones included until they are looked up or
// evicted.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// ttl returns how long msg may be cached, and false when it must not be:
//
//   - truncated: never (the TCP answer is the one to keep);
//   - NOERROR with answer records: their smallest TTL, at most maxTTL;
//   - NXDOMAIN, or NOERROR without answer records (NODATA): min(SOA TTL, SOA MINIMUM) of the
//     authority section's SOA, at most maxNeg; not cached without an SOA (RFC 2308 §5);
//   - any other rcode: servFail (not cached when negative).
//
// A TTL of 0 is not cached.
func ttl(msg *dns.Msg, maxTTL, maxNeg, servFail time.Duration) (time.Duration, bool) {
	if msg.Truncated {
		return 0, false
	}
	var d time.Duration
	switch {
	case msg.Rcode == dns.RcodeSuccess && len(msg.Answer) > 0:
		minTTL := msg.Answer[0].Header().Ttl
		for _, rr := range msg.Answer[1:] {
			minTTL = min(minTTL, rr.Header().Ttl)
		}
		d = min(seconds(minTTL), maxTTL)
	case msg.Rcode == dns.RcodeSuccess || msg.Rcode == dns.RcodeNameError:
		soa := negativeSOA(msg)
		if soa == nil {
			return 0, false
		}
		d = min(seconds(min(soa.Hdr.Ttl, soa.Minttl)), maxNeg)
	default:
		d = servFail
	}
	return d, d > 0
}

func seconds(s uint32) time.Duration { return time.Duration(s) * time.Second }

// negativeSOA returns the SOA of a negative answer's authority section (RFC 2308 §3).
func negativeSOA(msg *dns.Msg) *dns.SOA {
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}
