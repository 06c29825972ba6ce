package mta

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MTA-STS (RFC 8461): the policy and TXT record formats. The fetch, the cache and how a
// delivery applies a policy are in mtasts_fetch.go and mtasts_cache.go.

// STSMode is a policy's mode (RFC 8461 §5).
type STSMode string

// Policy modes.
const (
	STSEnforce STSMode = "enforce" // MX must match and TLS must verify, else defer
	STSTesting STSMode = "testing" // deliver as without a policy, report failures (TLS-RPT)
	STSNone    STSMode = "none"    // the domain withdrew its policy
)

// STSMaxAge is the largest max_age a policy may give (RFC 8461 §3.2: 31557600, about a year).
const STSMaxAge = 31557600

// STSPolicy is a parsed MTA-STS policy.
type STSPolicy struct {
	Mode   STSMode  `json:"mode"`
	MaxAge int64    `json:"max_age"` // seconds, at most STSMaxAge
	MX     []string `json:"mx"`      // patterns, lower case, without the final dot: "mx.example.com", "*.example.com"
}

// errBadPolicy wraps every ParseSTSPolicy failure.
var errBadPolicy = errors.New("mta-sts: invalid policy")

// ParseSTSPolicy parses the body of https://mta-sts.<domain>/.well-known/mta-sts.txt
// (RFC 8461 §3.2): "key: value" lines ended by CRLF (LF alone is accepted, as §3.2 allows).
// version must be STSv1, mode and max_age must be present and valid, and "enforce" and
// "testing" need at least one mx. The first occurrence of a repeated field wins (mx
// accumulates); unknown fields are ignored (extensions). The error names the field.
func ParseSTSPolicy(body []byte) (*STSPolicy, error) {
	p := &STSPolicy{}
	var version string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: line %q has no ':'", errBadPolicy, clip(line))
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("%w: bad field name %q", errBadPolicy, clip(key))
		}
		if key == "mx" {
			pat, err := parseMXPattern(value)
			if err != nil {
				return nil, err
			}
			if len(p.MX) < 256 {
				p.MX = append(p.MX, pat)
			}
			continue
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		switch key {
		case "version":
			version = value
		case "mode":
			p.Mode = STSMode(value)
		case "max_age":
			if value == "" || len(value) > 10 || strings.Trim(value, "0123456789") != "" {
				return nil, fmt.Errorf("%w: max_age %q is not 1 to 10 digits", errBadPolicy, clip(value))
			}
			n, _ := strconv.ParseInt(value, 10, 64)
			p.MaxAge = min(n, STSMaxAge)
		}
	}
	switch {
	case version != "STSv1":
		return nil, fmt.Errorf("%w: version %q, want STSv1", errBadPolicy, clip(version))
	case !seen["mode"]:
		return nil, fmt.Errorf("%w: mode missing", errBadPolicy)
	case p.Mode != STSEnforce && p.Mode != STSTesting && p.Mode != STSNone:
		return nil, fmt.Errorf("%w: mode %q, want enforce, testing or none", errBadPolicy, clip(string(p.Mode)))
	case !seen["max_age"]:
		return nil, fmt.Errorf("%w: max_age missing", errBadPolicy)
	case p.Mode != STSNone && len(p.MX) == 0:
		return nil, fmt.Errorf("%w: mode %s without any mx", errBadPolicy, p.Mode)
	}
	return p, nil
}

// parseMXPattern checks one mx value: a host name, or "*." and a host name.
func parseMXPattern(v string) (string, error) {
	v = strings.ToLower(strings.TrimSuffix(v, "."))
	name := strings.TrimPrefix(v, "*.")
	if !validHostname(name) || strings.Contains(name, "*") {
		return "", fmt.Errorf("%w: mx %q is not a host name or *.host name", errBadPolicy, clip(v))
	}
	return v, nil
}

func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// MatchesMX reports whether host (an MX name) matches one of the policy's mx patterns
// (RFC 8461 §4.1): an exact name, or "*.rest" matching one more leftmost label.
func (p *STSPolicy) MatchesMX(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			label, parent, found := strings.Cut(host, ".")
			if found && label != "" && parent == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// String renders the policy as its canonical lines (for TLS-RPT's policy-string).
func (p *STSPolicy) String() string {
	return strings.Join(p.lines(), "\n")
}

func (p *STSPolicy) lines() []string {
	out := []string{"version: STSv1", "mode: " + string(p.Mode)}
	for _, mx := range p.MX {
		out = append(out, "mx: "+mx)
	}
	return append(out, "max_age: "+strconv.FormatInt(p.MaxAge, 10))
}

// ParseSTSRecord picks the policy id out of the TXT records of _mta-sts.<domain> (RFC 8461
// §3.1): records not starting with "v=STSv1" are discarded; exactly one must remain, with an
// id of 1 to 32 letters and digits. ok is false when the domain has no usable record.
func ParseSTSRecord(txts []string) (id string, ok bool) {
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=STSv1;") || t == "v=STSv1" {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return "", false
	}
	for _, field := range strings.Split(recs[0], ";")[1:] {
		field = strings.Trim(field, " \t")
		if field == "" {
			continue
		}
		k, v, found := strings.Cut(field, "=")
		if !found {
			return "", false
		}
		if k == "id" && id == "" {
			if v == "" || len(v) > 32 || strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
				return "", false
			}
			id = v
		}
	}
	return id, id != ""
}

// clip bounds what a hostile policy can put into an error message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
