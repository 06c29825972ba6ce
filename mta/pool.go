package mta

import (
	"sync"
	"time"
)

// poolKey identifies interchangeable sessions: same address, same TLS policy, same IP pool
// (a session opened for one pool never carries another pool's mail), and under TLSVerify or
// TLSDANE the same verified host name.
type poolKey struct {
	addr   string
	policy TLSPolicy
	pool   string // IPPool.Name; "" = the default source
	name   string // set only for TLSVerify/TLSDANE: the certificate was checked for this name
}

func keyFor(h hop, addr, pool string) poolKey {
	k := poolKey{addr: addr, policy: h.tls, pool: pool}
	if h.tls == TLSVerify || h.tls == TLSDANE {
		k.name = h.name
	}
	return k
}

// pool keeps idle sessions per next hop so that consecutive deliveries to one host reuse a
// connection: bounded in number per key, in idle time, and in uses per connection.
type pool struct {
	maxIdle int
	idleFor time.Duration
	maxUses int

	mu     sync.Mutex
	idle   map[poolKey][]*conn
	closed bool
	quits  sync.WaitGroup // QUITs in flight; close waits for them
}

func newPool(o Options) *pool {
	return &pool{maxIdle: o.MaxIdlePerHost, idleFor: o.IdleTimeout, maxUses: o.MaxConnUses,
		idle: make(map[poolKey][]*conn)}
}

// get returns the most recently used idle session for key, or nil.
func (p *pool) get(key poolKey) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	p.setList(key, list[:len(list)-1])
	c.idleGen++ // a timer already firing for this idle period will find nothing to do
	c.idleTimer.Stop()
	return c
}

// put returns a session after use; it is closed instead when broken, worn out, or in excess.
func (p *pool) put(c *conn) {
	p.mu.Lock()
	if c.broken || c.uses >= p.maxUses || p.closed || len(p.idle[c.key]) >= p.maxIdle {
		p.quits.Add(1) // under the lock, so that close cannot miss it
		p.mu.Unlock()
		go func() { // QUIT may wait on the peer: never on the caller's time
			defer p.quits.Done()
			c.quit()
		}()
		return
	}
	c.idleGen++
	gen := c.idleGen
	c.idleTimer = time.AfterFunc(p.idleFor, func() { p.expire(c, gen) })
	p.idle[c.key] = append(p.idle[c.key], c)
	p.mu.Unlock()
}

// expire closes c if it is still idle in the same idle period gen.
func (p *pool) expire(c *conn, gen uint64) {
	p.mu.Lock()
	if c.idleGen != gen || !p.remove(c) {
		p.mu.Unlock()
		return
	}
	p.quits.Add(1)
	p.mu.Unlock()
	defer p.quits.Done()
	c.quit()
}

func (p *pool) remove(c *conn) bool {
	list := p.idle[c.key]
	for i, x := range list {
		if x == c {
			p.setList(c.key, append(list[:i:i], list[i+1:]...))
			return true
		}
	}
	return false
}

func (p *pool) setList(key poolKey, list []*conn) {
	if len(list) == 0 {
		delete(p.idle, key)
		return
	}
	p.idle[key] = list
}

// close quits every idle session and refuses new ones; it waits for the QUITs.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*conn
	for key, list := range p.idle {
		for _, c := range list {
			c.idleGen++
			c.idleTimer.Stop()
		}
		all = append(all, list...)
		delete(p.idle, key)
	}
	p.mu.Unlock()
	for _, c := range all {
		p.quits.Go(c.quit)
	}
	p.quits.Wait()
}
