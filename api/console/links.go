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
	ErrLinkUsed    = errors.New("this link was already used; sign in to the console to see the decision")
	ErrLinkExpired = errors.New("this link has expired")
	ErrLinkOff     = errors.New("one-click links are off for this mailbox; sign in to the console to decide")
)

// LinkOptions configures Links.
type LinkOptions struct {
	// BaseURL is the console's address as the overseer's browser reaches it, e.g.
	// "http://127.0.0.1:8025" (no trailing slash).
	BaseURL string
	// Key is the HMAC key of the tokens (32 bytes or more), kept by the caller across
	// restarts (data_dir/console-links.key) so links already mailed keep working; nil: a key
	// made at start, and a restart voids the links sent before it.
	Key []byte
	// Lifetime bounds a link: it expires at the earlier of created + Lifetime (the queue's
	// max_lifetime, how long a held message is kept) and the message's expires_at.
	Lifetime time.Duration
	Clock    Clock
}

// Links mints and checks the one-click decision links of approval request emails. A token is
// "<payload>.<mac>": the payload names (approval id, decision, expiry, nonce) and the mac is an
// HMAC-SHA256 under Key. Nothing of a token is stored, so there is nothing to steal but the
// key (0600 in the data dir); its single use is the approval's own: the queue decides an
// approval once, in one synced commit, so of the approve and reject tokens of an approval (or
// two clicks racing) exactly one decides and every later use finds it decided, across
// restarts. Tokens are never logged.
type Links struct {
	opts LinkOptions
	key  []byte

	mu       sync.Mutex
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
	k := o.Key
	if len(k) < 32 {
		k = make([]byte, 32)
		_, _ = rand.Read(k)
	}
	return &Links{opts: o, key: k, disabled: map[string]string{}}
}

// Disable stops links for a mailbox (its oversight address is readable by the agent: a link
// there would let the agent approve its own send). why is logged by the caller. Links
// already mailed for the mailbox stop working too (Allowed).
func (l *Links) Disable(mailbox, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.disabled[strings.ToLower(mailbox)] = why
}

// Allowed reports whether links of mailbox may decide.
func (l *Links) Allowed(mailbox string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, off := l.disabled[strings.ToLower(mailbox)]
	return !off
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
	return p + "." + base64.RawURLEncoding.EncodeToString(l.mac(p))
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

// Peek reports what a live token decides, without using it. The caller checks that the
// approval is still pending and its mailbox Allowed; the queue's decide-once makes it single use.
func (l *Links) Peek(tok string) (approvalID, decision string, err error) {
	rec, err := l.parse(tok)
	if err != nil {
		return "", "", err
	}
	return rec.approvalID, rec.decision, nil
}

// String never shows the key.
func (l *Links) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("console.Links(%d mailboxes off)", len(l.disabled))
}
