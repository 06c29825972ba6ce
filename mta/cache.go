package mta

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// cacheMax bounds the answer cache; past it, expired entries are swept, then all if needed.
const cacheMax = 4096

// cachingResolver keeps answers and "not found" answers for a fixed time, so that a burst of
// mail to one domain asks DNS once, not once a message. Other errors are not kept.
type cachingResolver struct {
	r     Resolver
	ttl   time.Duration
	clock interface{ Now() time.Time }

	mu sync.Mutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	mx    []*net.MX
	hosts []string
	err   error // a not-found answer
	exp   time.Time
}

var _ Resolver = (*cachingResolver)(nil)

func newCachingResolver(r Resolver, ttl time.Duration, clock interface{ Now() time.Time }) Resolver {
	if ttl < 0 {
		return r
	}
	return &cachingResolver{r: r, ttl: ttl, clock: clock, m: make(map[string]cacheEntry)}
}

func (c *cachingResolver) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	key := "mx\x00" + strings.ToLower(domain)
	if e, ok := c.get(key); ok {
		return e.mx, e.err
	}
	mx, err := c.r.LookupMX(ctx, domain)
	c.put(key, cacheEntry{mx: mx, err: err}, err)
	return mx, err
}

func (c *cachingResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	key := "a\x00" + strings.ToLower(host)
	if e, ok := c.get(key); ok {
		return e.hosts, e.err
	}
	hosts, err := c.r.LookupHost(ctx, host)
	c.put(key, cacheEntry{hosts: hosts, err: err}, err)
	return hosts, err
}

func (c *cachingResolver) get(key string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || c.clock.Now().After(e.exp) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *cachingResolver) put(key string, e cacheEntry, err error) {
	if err != nil && !isNotFound(err) {
		return
	}
	now := c.clock.Now()
	e.exp = now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= cacheMax {
		for k, old := range c.m {
			if now.After(old.exp) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= cacheMax {
			clear(c.m)
		}
	}
	c.m[key] = e
}
