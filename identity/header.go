package identity

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// FieldName is the name of the identity header field.
const FieldName = "Multimail-Identity"

// Version is the only version of the header this package writes and accepts.
const Version = "1"

// Release says how a message was let go.
type Release string

// Releases.
const (
	ReleaseAutonomous   Release = "autonomous"    // the mailbox sends without oversight
	ReleaseMonitored    Release = "monitored"     // sent at once, a copy went to oversight
	ReleaseApproved     Release = "approved"      // a person approved the held send
	ReleaseAutoApproved Release = "auto_approved" // an approval rule released it at once
)

// Modes a header may carry: the mailbox oversight modes that can send, and "system" for the
// messages multimail itself originates (oversight copies and approval requests).
var modes = map[string]bool{"autonomous": true, "monitored": true, "gated_send": true, "gated_all": true, "system": true}

// Header is the content of a Multimail-Identity field.
type Header struct {
	Mailbox string    // the sending mailbox (the From address)
	Mode    string    // oversight mode at acceptance, or "system"
	Release Release   // how it was released
	Ref     string    // the approval id (apr_…) for approved and auto_approved; else ""
	At      time.Time // when it was released (UTC, whole seconds)
	Msg     string    // multimail's message id (msg_…)
}

// ErrMalformed is a Multimail-Identity value that does not follow the grammar.
var ErrMalformed = errors.New("identity: malformed Multimail-Identity header")

// Validate checks h against the grammar.
func (h Header) Validate() error {
	switch {
	case !validAddr(h.Mailbox):
		return fmt.Errorf("%w: mailbox %q", ErrMalformed, h.Mailbox)
	case !modes[h.Mode]:
		return fmt.Errorf("%w: mode %q", ErrMalformed, h.Mode)
	case !validID(h.Msg, "msg_"):
		return fmt.Errorf("%w: msg %q", ErrMalformed, h.Msg)
	case h.At.IsZero():
		return fmt.Errorf("%w: at missing", ErrMalformed)
	}
	switch h.Release {
	case ReleaseApproved, ReleaseAutoApproved:
		if !validID(h.Ref, "apr_") {
			return fmt.Errorf("%w: release %s needs ref=apr_…, got %q", ErrMalformed, h.Release, h.Ref)
		}
	case ReleaseAutonomous, ReleaseMonitored:
		if h.Ref != "" {
			return fmt.Errorf("%w: release %s takes no ref", ErrMalformed, h.Release)
		}
	default:
		return fmt.Errorf("%w: release %q", ErrMalformed, h.Release)
	}
	return nil
}

// Format renders the field value: "v=1; mailbox=…; mode=…; release=…[; ref=…]; at=…; msg=…".
func (h Header) Format() (string, error) {
	h.Mailbox = strings.ToLower(h.Mailbox)
	h.At = h.At.UTC().Truncate(time.Second)
	if err := h.Validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=%s; mailbox=%s; mode=%s; release=%s", Version, h.Mailbox, h.Mode, h.Release)
	if h.Ref != "" {
		fmt.Fprintf(&b, "; ref=%s", h.Ref)
	}
	fmt.Fprintf(&b, "; at=%s; msg=%s", h.At.Format(time.RFC3339), h.Msg)
	return b.String(), nil
}

// ParseHeader parses a field value (unfolded or folded: whitespace around tags is ignored).
// Every tag but ref is required, none may repeat, unknown tags are refused (v=1 is closed).
func ParseHeader(v string) (Header, error) {
	tags := map[string]string{}
	for _, part := range strings.Split(v, ";") {
		part = strings.Join(strings.Fields(part), "")
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			return Header{}, fmt.Errorf("%w: %q is not tag=value", ErrMalformed, part)
		}
		if _, dup := tags[k]; dup {
			return Header{}, fmt.Errorf("%w: tag %s repeated", ErrMalformed, k)
		}
		tags[k] = val
	}
	if tags["v"] != Version {
		return Header{}, fmt.Errorf("%w: v=%q (want %s)", ErrMalformed, tags["v"], Version)
	}
	for k := range tags {
		switch k {
		case "v", "mailbox", "mode", "release", "ref", "at", "msg":
		default:
			return Header{}, fmt.Errorf("%w: unknown tag %s", ErrMalformed, k)
		}
	}
	at, err := time.Parse(time.RFC3339, tags["at"])
	if err != nil || !strings.HasSuffix(tags["at"], "Z") {
		return Header{}, fmt.Errorf("%w: at=%q is not an RFC 3339 UTC time", ErrMalformed, tags["at"])
	}
	h := Header{Mailbox: tags["mailbox"], Mode: tags["mode"], Release: Release(tags["release"]),
		Ref: tags["ref"], At: at, Msg: tags["msg"]}
	if err := h.Validate(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// validAddr accepts the lower-case local@domain addresses multimail sends from.
func validAddr(s string) bool {
	local, dom, ok := strings.Cut(s, "@")
	if !ok || local == "" || dom == "" || len(s) > 254 || strings.ContainsAny(s, "; \t\r\n\"(),<>") {
		return false
	}
	return s == strings.ToLower(s)
}

// validID accepts prefix + 26 Crockford base32 characters (a ULID).
func validID(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for _, c := range rest {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
