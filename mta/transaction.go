package mta

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// envelope is what one transaction sends.
type envelope struct {
	from       string
	rcpts      []string
	body       []byte
	requireTLS bool // MAIL FROM … REQUIRETLS (RFC 8689)
}

// needsUTF8 reports whether an address is internationalised (RFC 6531).
func (e *envelope) needsUTF8() bool {
	if !isASCII(e.from) {
		return true
	}
	for _, r := range e.rcpts {
		if !isASCII(r) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// rcptResult is the definite answer for one recipient: err == nil means delivered.
type rcptResult struct {
	err   *Error
	reply string // the final 2xx reply text when delivered
}

// send runs one mail transaction. It returns a result for every recipient that got a definite
// answer (nil for those left undecided) and, when the session broke, the connection-level
// error. When ctx ends the connection is closed, which aborts whatever step is in progress.
func (c *conn) send(ctx context.Context, env *envelope) ([]*rcptResult, *Error) {
	c.uses++
	stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
	res, err := c.transaction(env)
	if !stop() {
		c.broken = true
	}
	return res, err
}

func (c *conn) transaction(env *envelope) ([]*rcptResult, *Error) {
	res := make([]*rcptResult, len(env.rcpts))
	if e := c.precheck(env); e != nil {
		return fill(res, nil, e), nil
	}
	opts := &smtp.MailOptions{Size: int64(len(env.body)), UTF8: env.needsUTF8(), RequireTLS: env.requireTLS}
	if err := c.client.Mail(env.from, opts); err != nil {
		if isConnectionLevel(err) {
			return res, c.broke(err)
		}
		c.reset()
		return fill(res, nil, classify(err, c.host)), nil
	}
	accepted := make([]int, 0, len(env.rcpts))
	for i, rcpt := range env.rcpts {
		err := c.client.Rcpt(rcpt, nil)
		switch {
		case err == nil:
			accepted = append(accepted, i)
		case isConnectionLevel(err):
			return res, c.broke(err)
		default:
			res[i] = &rcptResult{err: classify(err, c.host)}
		}
	}
	if len(accepted) == 0 {
		c.reset()
		return res, nil
	}
	return c.data(env, res, accepted)
}

// data sends DATA and the body for the accepted recipients.
func (c *conn) data(env *envelope, res []*rcptResult, accepted []int) ([]*rcptResult, *Error) {
	w, err := c.client.Data()
	if err != nil {
		if isConnectionLevel(err) {
			return res, c.broke(err)
		}
		c.reset()
		return fill(res, accepted, classify(err, c.host)), nil
	}
	_ = c.raw.SetDeadline(time.Now().Add(c.d.dataTimeout))
	if _, err := w.Write(env.body); err != nil {
		return res, c.broke(err) // no final dot went out: nothing was delivered
	}
	resp, err := w.CloseWithResponse()
	switch {
	case err == nil:
		for _, i := range accepted {
			res[i] = &rcptResult{reply: resp.StatusText}
		}
		return res, nil
	case isConnectionLevel(err):
		// The final dot went out but no reply came: the message may have been delivered
		// (RFC 5321 §6.1 prefers a duplicate to a loss), so defer rather than try elsewhere now.
		e := c.broke(err)
		return fill(res, accepted, e), e
	}
	return fill(res, accepted, classify(err, c.host)), nil
}

// precheck refuses what the host said it cannot take: SIZE (RFC 1870 §6) and SMTPUTF8.
func (c *conn) precheck(env *envelope) *Error {
	if limit, ok := c.client.MaxMessageSize(); ok && limit > 0 && len(env.body) > limit {
		e := permanent("5.3.4", ErrMessageTooBig, "message of %d bytes exceeds the limit of %d",
			len(env.body), limit)
		e.Host = c.host
		return e
	}
	if ok, _ := c.client.Extension("SMTPUTF8"); !ok && env.needsUTF8() {
		e := permanent("5.6.7", ErrSMTPUTF8, "an address needs SMTPUTF8, which the host does not offer")
		e.Host = c.host
		return e
	}
	return nil
}

// reset aborts a transaction that did not end with a DATA reply.
func (c *conn) reset() {
	if err := c.client.Reset(); err != nil {
		c.broken = true
	}
}

// broke marks the session unusable and classifies why.
func (c *conn) broke(err error) *Error {
	c.broken = true
	return classify(fmt.Errorf("session: %w", err), c.host)
}

// fill sets e for the recipients idx (all when idx is nil).
func fill(res []*rcptResult, idx []int, e *Error) []*rcptResult {
	if idx == nil {
		for i := range res {
			res[i] = &rcptResult{err: e}
		}
		return res
	}
	for _, i := range idx {
		res[i] = &rcptResult{err: e}
	}
	return res
}
