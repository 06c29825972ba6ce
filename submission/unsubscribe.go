package submission

// unsubscribe.go: List-Unsubscribe (RFC 2369) with one-click (RFC 8058) on request.

import (
	"maps"
	"net/textproto"
	"strings"

	"multimail.dev/multimail/queue"
)

// The header fields of a one-click unsubscribe. Both are in signedHeaders: RFC 8058 §4 asks
// for a DKIM signature covering them.
const (
	hdrListUnsubscribe     = "List-Unsubscribe"
	hdrListUnsubscribePost = "List-Unsubscribe-Post"
	oneClickBody           = "List-Unsubscribe=One-Click"
)

// UnsubscribePath is the path of the one-click endpoint under UnsubscribeURL: /u/<token>.
const UnsubscribePath = "/u/"

// checkUnsubscribe refuses "unsubscribe": true where it does not belong: without a configured
// public URL, on high-priority mail (login codes and links must always arrive, so a recipient
// must not be able to turn them off), with more than one recipient (the URL names the
// recipient, and the queue keeps one body per message), or with the fields in headers.
func (s *Submitter) checkUnsubscribe(req *SendRequest, d *draft) error {
	for k := range req.Headers {
		switch textproto.CanonicalMIMEHeaderKey(k) {
		case hdrListUnsubscribe, hdrListUnsubscribePost:
			if req.Unsubscribe {
				return fieldErr("headers."+k, "is set by \"unsubscribe\": true and cannot be supplied with it")
			}
		}
	}
	if !req.Unsubscribe {
		return nil
	}
	switch {
	case s.opts.UnsubscribeURL == "":
		return fieldErr("unsubscribe", "this node has no public https URL ([api] public_url)")
	case d.lane == queue.LaneHigh:
		return fieldErr("unsubscribe", "not on priority \"high\" mail: login codes and links must always arrive")
	case len(d.rcpts) != 1:
		return fieldErr("unsubscribe", "needs exactly one recipient (the link names it): send one message per recipient, e.g. with send_batch")
	}
	return nil
}

// withUnsubscribe returns req with the two header fields added for rcpt of message msgID.
func (s *Submitter) withUnsubscribe(req *SendRequest, domain, rcpt, msgID string) *SendRequest {
	c := *req
	c.Headers = maps.Clone(req.Headers)
	if c.Headers == nil {
		c.Headers = map[string]string{}
	}
	url := strings.TrimSuffix(s.opts.UnsubscribeURL, "/") + UnsubscribePath + s.opts.Queue.UnsubscribeToken(domain, rcpt, msgID)
	c.Headers[hdrListUnsubscribe] = "<" + url + ">"
	c.Headers[hdrListUnsubscribePost] = oneClickBody
	return &c
}
