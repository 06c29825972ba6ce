package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Decisions a link carries.
const (
	decideApprove = "approve"
	decideReject  = "reject"
)

// Errors of the one-click flow; each is shown to the person as a plain sentence.
var (
	ErrLinkInvalid = errors.New("this link is not valid (mistyped, or not one this server made)")
	ErrLinkUsed    = errors.New("this link was already used, or the server restarted since it was sent; sign in to the console to decide")
	ErrLinkExpired = errors.New("this link has expired")
)

// LinkOptions configures Links.
type LinkOptions struct {
	// BaseURL is the console's address as the overseer's browser reaches it, e.g.
	// "http://127.0.0.1:8025" (no trailing slash).
	BaseURL string
	// Lifetime bounds a link: it expires at the earlier of created + Lifetime (the queue's
	// max_lifetime, how long a held message is kept) and the message's expires_at.
	Lifetime time.Duration
	Clock    Clock
}

// Links mints and consumes the one-click decision links of approval request emails. A token
// is "<payload>.<mac>": the payload names (approval id, decision, expiry, nonce) and the mac
// is an HMAC-SHA256 under a key made at start; the token is also kept, as its SHA-256 only,
// in a table that a decision empties atomically (both the approve and the reject token of that
// approval), so each works once. The table and the key live in memory: a restart voids the
// links already sent (the console still decides those approvals). Tokens are never logged.
type Links struct {
	opts LinkOptions
	key  []byte

	mu       sync.Mutex
	tokens   map[[32]byte]linkRec
	byID     map[string][][32]byte
	disabled map[string]string // mailbox -> why no links are minted for it
}

type linkRec struct {
	approvalID string
	decision   string
	expires    time.Time
}

// NewLinks makes the link minter.
func NewLinks(o LinkOptions) *Links {
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Lifetime <= 0 {
		o.Lifetime = 120 * time.Hour
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return &Links{opts: o, key: k, tokens: map[[32]byte]linkRec{}, byID: map[string][][32]byte{}, disabled: map[string]string{}}
}

// Disable stops links for a mailbox (its oversight address is readable by the agent: a link
// there would let the agent approve its own send). why is logged by the caller.
func (l *Links) Disable(mailbox, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.disabled[strings.ToLower(mailbox)] = why
}

// DecisionLinks implements submission.DecisionLinks.
func (l *Links) DecisionLinks(approvalID, mailbox string, expires time.Time) (string, string, bool) {
	l.mu.Lock()
	_, off := l.disabled[strings.ToLower(mailbox)]
	l.mu.Unlock()
	if off || l.opts.BaseURL == "" {
		return "", "", false
	}
	exp := l.opts.Clock.Now().Add(l.opts.Lifetime)
	if !expires.IsZero() && expires.Before(exp) {
		exp = expires
	}
	a := l.mint(approvalID, decideApprove, exp)
	r := l.mint(approvalID, decideReject, exp)
	return l.opts.BaseURL + "/console/d/" + a, l.opts.BaseURL + "/console/d/" + r, true
}

func (l *Links) mint(id, decision string, exp time.Time) string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	payload := strings.Join([]string{id, decision, strconv.FormatInt(exp.Unix(), 10), base64.RawURLEncoding.EncodeToString(nonce)}, "|")
	p := base64.RawURLEncoding.EncodeToString([]byte(payload))
	tok := p + "." + base64.RawURLEncoding.EncodeToString(l.mac(p))
	h := sha256.Sum256([]byte(tok))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens[h] = linkRec{approvalID: id, decision: decision, expires: exp}
	l.byID[id] = append(l.byID[id], h)
	return tok
}

func (l *Links) mac(p string) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(p))
	return m.Sum(nil)
}

// parse checks a token's MAC and expiry and returns what it decides.
func (l *Links) parse(tok string) (linkRec, error) {
	p, macB64, ok := strings.Cut(tok, ".")
	mac, err := base64.RawURLEncoding.DecodeString(macB64)
	if !ok || err != nil || !hmac.Equal(mac, l.mac(p)) {
		return linkRec{}, ErrLinkInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return linkRec{}, ErrLinkInvalid
	}
	f := strings.Split(string(raw), "|")
	if len(f) != 4 || (f[1] != decideApprove && f[1] != decideReject) {
		return linkRec{}, ErrLinkInvalid
	}
	sec, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return linkRec{}, ErrLinkInvalid
	}
	rec := linkRec{approvalID: f[0], decision: f[1], expires: time.Unix(sec, 0)}
	if !l.opts.Clock.Now().Before(rec.expires) {
		return linkRec{}, ErrLinkExpired
	}
	return rec, nil
}

// Peek reports what a live token decides, without using it (the confirmation page: GET never
// decides, since mail scanners follow links).
func (l *Links) Peek(tok string) (approvalID, decision string, err error) {
	rec, err := l.parse(tok)
	if err != nil {
		return "", "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.tokens[sha256.Sum256([]byte(tok))]; !ok {
		return "", "", ErrLinkUsed
	}
	return rec.approvalID, rec.decision, nil
}

// Consume uses a token: exactly one caller gets it, and with it the approval's other token
// is gone too.
func (l *Links) Consume(tok string) (approvalID, decision string, err error) {
	rec, err := l.parse(tok)
	if err != nil {
		return "", "", err
	}
	h := sha256.Sum256([]byte(tok))
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.tokens[h]; !ok {
		return "", "", ErrLinkUsed
	}
	l.forgetLocked(rec.approvalID)
	return rec.approvalID, rec.decision, nil
}

// Forget voids every link of an approval (it was decided some other way).
func (l *Links) Forget(approvalID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetLocked(approvalID)
}

func (l *Links) forgetLocked(id string) {
	for _, h := range l.byID[id] {
		delete(l.tokens, h)
	}
	delete(l.byID, id)
}

// String never shows a token.
func (l *Links) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("console.Links(%d live)", len(l.tokens))
}
