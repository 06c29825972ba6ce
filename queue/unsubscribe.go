package queue

// unsubscribe.go: the tokens of List-Unsubscribe one-click URLs (RFC 8058).

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// unsubTagLen is the bytes of HMAC-SHA256 a token keeps (128 bits).
const unsubTagLen = 16

// maxUnsubToken bounds what ParseUnsubscribeToken reads.
const maxUnsubToken = 1024

func (s *Signer) unsubTag(payload string) []byte {
	m := hmac.New(sha256.New, s.verp.Key)
	m.Write([]byte("multimail unsubscribe v1\x00" + payload))
	return m.Sum(nil)[:unsubTagLen]
}

// UnsubscribeToken is the token of a one-click unsubscribe URL: the sending domain, the
// recipient and the message, signed with an HMAC under the node's secret (the VERP key, under
// its own label), so that the POST needs no authentication and cannot be forged for another
// recipient or domain. URL-safe base64, no padding.
func (s *Signer) UnsubscribeToken(domain, rcpt, msgID string) string {
	payload := strings.ToLower(domain) + "\x00" + normAddr(rcpt) + "\x00" + msgID
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(s.unsubTag(payload))
}

// ParseUnsubscribeToken verifies a token made by UnsubscribeToken (constant-time HMAC
// comparison) and returns what it names; ok is false for anything else.
func (s *Signer) ParseUnsubscribeToken(tok string) (domain, rcpt, msgID string, ok bool) {
	if len(tok) > maxUnsubToken {
		return "", "", "", false
	}
	p64, t64, found := strings.Cut(tok, ".")
	if !found {
		return "", "", "", false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	tag, err2 := base64.RawURLEncoding.DecodeString(t64)
	if err1 != nil || err2 != nil || !hmac.Equal(tag, s.unsubTag(string(payload))) {
		return "", "", "", false
	}
	parts := strings.Split(string(payload), "\x00")
	if len(parts) != 3 || parts[0] == "" || !strings.Contains(parts[1], "@") {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// Unsubscribe adds the recipient a verified token names to its domain's list with reason
// "unsubscribe" (RFC 8058 one-click). Repeating it changes nothing but the time.
func (q *Queue) Unsubscribe(ctx context.Context, tok, detail string) (Suppression, error) {
	d, r, id, ok := q.sign.ParseUnsubscribeToken(tok)
	if !ok {
		return Suppression{}, fmt.Errorf("unsubscribe: %w", ErrNotFound)
	}
	s := Suppression{Domain: d, Address: r, Reason: SuppressUnsubscribe, Detail: clip(detail, 300), MsgID: id}
	if err := ctx.Err(); err != nil {
		return Suppression{}, err
	}
	if _, m, rcpts, unlock, err := q.lockedMsg("unsubscribe", id); err == nil {
		// the message is still known: the unsubscribe goes into its trail too
		err = q.suppressLocked(m, rcpts, s)
		unlock()
		if err != nil {
			return Suppression{}, err
		}
	} else if err := q.Suppress(ctx, s); err != nil {
		return Suppression{}, err
	}
	s.Domain, s.Address = strings.ToLower(d), normAddr(r)
	return s, nil
}
