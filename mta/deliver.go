package mta

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/miekg/dns"

	"multimail.dev/multimail/queue"
)

// maxConnectTries bounds the addresses one attempt dials, over all hops.
const maxConnectTries = 6

// attempt is the state of one lease's delivery: the definite result of each recipient so far.
type attempt struct {
	lease   *queue.Lease
	pool    string // the IP pool the mail leaves through ("" = default)
	body    []byte
	results []*queue.Result // nil: undecided
	sts     *stsLookup      // the recipient domain's MTA-STS outcome; nil when not looked up

	tlsa map[string][]*dns.TLSA // DANE: usable TLSA records by MX host; nil without DANE
}

// deliverPaced sends the lease's message to its recipients' domain and returns one result per
// recipient and whether the whole domain should back off (nothing could be reached), under the
// destination's pacing when pace is set. A non-zero later means no attempt was made: pacing (or
// the IP pool's warm-up quota) has no room for the destination now, and the lease goes back to
// the queue until then.
func (d *Deliverer) deliverPaced(ctx context.Context, l *queue.Lease, body []byte, pace bool) ([]queue.Result, bool, time.Time) {
	if d.opts.Local != nil && d.opts.Local.IsLocal(ctx, l.Domain) {
		return d.deliverLocal(ctx, l, body), false, time.Time{}
	}
	a := &attempt{lease: l, pool: d.sources.poolOf(l), body: body, results: make([]*queue.Result, len(l.Recipients))}
	hops, err := d.router.route(ctx, l.Domain)
	if err == nil {
		hops, err = d.secure(ctx, a, hops)
	}
	if err != nil {
		e := classify(err, "")
		a.decideRest(e, "", false)
		return a.final(), !e.Perm && !errors.Is(e, ErrSTSPending) && !errors.Is(e, ErrSTSPolicy), time.Time{}
	}
	if pace {
		if later, ok := d.pacer.admit(ctx, destKey(hops[0].name), l.Lane); !ok {
			return nil, false, later
		}
	}
	lastErr := d.tryHops(withTLSA(ctx, a.tlsa), a, hops)
	if lastErr == nil {
		return a.final(), false, time.Time{}
	}
	if errors.Is(lastErr, ErrNoSource) && lastErr.Status == "4.7.0" && len(a.undecided()) == len(a.results) {
		return nil, false, nextDay(d.opts.Clock.Now()) // every pool address used its warm-up quota
	}
	e := softened(lastErr)
	if errors.Is(lastErr, ErrRequireTLS) {
		e = lastErr // RFC 8689 §4.2.1: bounce, never retry in the clear
	}
	a.decideRest(e, e.Host, false)
	return a.final(), !e.Perm, time.Time{}
}

// softened makes a session-level failure temporary: a host that refuses the session (a 5xx
// greeting or EHLO) may be misconfigured for a while. Only RFC 7504's 521 and 556 ("this
// host / domain accepts no mail") stay permanent.
func softened(e *Error) *Error {
	if !e.Perm || e.Code == 521 || e.Code == 556 {
		return e
	}
	soft := *e
	soft.Perm = false
	soft.Status = "4" + strings.TrimPrefix(e.Status, "5")
	return &soft
}

// tryHops tries the hops' addresses in order until every recipient has a definite answer;
// it returns the last connection-level error when some are still undecided.
func (d *Deliverer) tryHops(ctx context.Context, a *attempt, hops []hop) *Error {
	lastErr := temporary("4.4.4", ErrNoHost, "no usable host for %s", a.lease.Domain)
	tries := 0
	for _, h := range hops {
		addrs, err := d.router.addrs(ctx, h)
		if err != nil {
			lastErr = classify(err, h.name)
			continue
		}
		for _, addr := range addrs {
			if tries == maxConnectTries || ctx.Err() != nil {
				return lastErr
			}
			tries++
			err := d.tryAddr(ctx, a, h, addr)
			if a.done() {
				return nil
			}
			if err != nil {
				lastErr = err
			}
		}
	}
	return lastErr
}

// tryAddr runs one transaction for the undecided recipients on a session to addr, reused
// from the pool when one is idle. A reused session that breaks before any recipient got an
// answer was likely closed by the peer while idle: one fresh session is tried at once.
func (d *Deliverer) tryAddr(ctx context.Context, a *attempt, h hop, addr string) *Error {
	key := keyFor(h, addr, a.pool)
	if c := d.pool.get(key); c != nil && !d.sources.count(c.src) {
		d.pool.put(c) // its address is past its warm-up quota: pick another below
	} else if c != nil {
		c.host = h.name // the same address may serve several names
		if e := d.checkRequireTLS(a, h, c); e != nil {
			return e
		}
		d.metrics.conns.WithLabelValues("true").Inc()
		decided, err := d.transact(ctx, a, h, c)
		if err == nil || decided > 0 || ctx.Err() != nil {
			return err
		}
	}
	src, serr := d.sources.pick(a.pool, addr)
	if serr != nil {
		serr.Host = h.name
		return serr
	}
	c, err := d.dialer.dial(ctx, h, addr, src)
	d.reportSession(a, h, addr, c, err)
	if err != nil {
		return classify(err, h.name)
	}
	if e := d.checkRequireTLS(a, h, c); e != nil {
		return e
	}
	d.metrics.conns.WithLabelValues("false").Inc()
	_, cerr := d.transact(ctx, a, h, c)
	return cerr
}

// transact sends to the undecided recipients on c, records the answers, and gives c back to
// the pool (which closes it when broken). It returns how many recipients got an answer.
func (d *Deliverer) transact(ctx context.Context, a *attempt, h hop, c *conn) (int, *Error) {
	idx := a.undecided()
	env := &envelope{from: a.lease.From, rcpts: make([]string, len(idx)), body: a.body,
		requireTLS: a.lease.RequireTLS}
	for i, j := range idx {
		env.rcpts[i] = a.lease.Recipients[j]
	}
	res, err := c.send(ctx, env)
	decided := 0
	for i, r := range res {
		if r != nil {
			a.results[idx[i]] = withSource(result(a.lease.Recipients[idx[i]], r, h.name, c.tls), c.src)
			decided++
		}
	}
	d.pool.put(c)
	return decided, err
}

func (a *attempt) undecided() []int {
	var idx []int
	for i, r := range a.results {
		if r == nil {
			idx = append(idx, i)
		}
	}
	return idx
}

func (a *attempt) done() bool { return len(a.undecided()) == 0 }

// decideRest gives every undecided recipient the outcome of e.
func (a *attempt) decideRest(e *Error, host string, tls bool) {
	for i, r := range a.results {
		if r == nil {
			a.results[i] = failure(a.lease.Recipients[i], e, host, tls)
		}
	}
}

func (a *attempt) final() []queue.Result {
	out := make([]queue.Result, len(a.results))
	for i, r := range a.results {
		out[i] = *r
	}
	return out
}

// result turns a transaction's answer for one recipient into a queue.Result.
func result(rcpt string, r *rcptResult, host string, tls bool) *queue.Result {
	if r.err != nil {
		return failure(rcpt, r.err, host, tls)
	}
	status, detail := splitStatus(r.reply)
	return &queue.Result{Recipient: rcpt, Outcome: queue.Delivered, SMTPCode: 250,
		EnhancedCode: status, Detail: detail, MXHost: host, TLS: tls}
}

func failure(rcpt string, e *Error, host string, tls bool) *queue.Result {
	r := &queue.Result{Recipient: rcpt, Outcome: queue.Deferred, SMTPCode: e.Code,
		EnhancedCode: e.Status, Detail: e.Msg, MXHost: host, TLS: tls}
	if e.Perm {
		r.Outcome = queue.Bounced
	}
	if e.Host != "" && r.MXHost == "" {
		r.MXHost = e.Host
	}
	return r
}

// withSource records which source address and IP pool carried the attempt.
func withSource(r *queue.Result, src source) *queue.Result {
	r.SourceIP, r.IPPool = src.String(), src.pool
	return r
}

// splitStatus splits "2.0.0 Ok: queued" into the enhanced code and the text (RFC 2034).
func splitStatus(reply string) (string, string) {
	reply = oneLine(reply)
	code, rest, _ := strings.Cut(reply, " ")
	if len(code) >= 5 && code[0] == '2' && code[1] == '.' && strings.Count(code, ".") == 2 {
		return code, rest
	}
	return "2.0.0", reply
}

// interrupted reports whether a shutdown cut the attempt short before any recipient got a
// remote answer; such a lease is left to expire rather than recorded as deferred.
func interrupted(ctx context.Context, results []queue.Result) bool {
	if ctx.Err() == nil {
		return false
	}
	for _, r := range results {
		if r.Outcome != queue.Deferred {
			return false
		}
	}
	return true
}
