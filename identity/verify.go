package identity

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// Verification failures. Verify wraps one of these with the detail.
var (
	ErrMissingHeader = errors.New("identity: no Multimail-Identity header")
	ErrNoSignature   = errors.New("identity: no identity signature (ed25519-sha256 DKIM-Signature covering Multimail-Identity)")
	ErrUnknownKey    = errors.New("identity: unknown key")
	ErrRevokedKey    = errors.New("identity: key revoked")
	ErrBodyHash      = errors.New("identity: body hash mismatch (the body was changed)")
	ErrBadSignature  = errors.New("identity: signature does not verify (a signed header was changed, or the wrong key)")
	ErrNotAligned    = errors.New("identity: not aligned with From")
)

// LookupFunc returns the DKIM TXT records of a name "<selector>._domainkey.<domain>"; a
// KeySet's LookupTXT, or net.LookupTXT for DNS.
type LookupFunc func(name string) ([]string, error)

// Result is a verified identity.
type Result struct {
	Header   Header
	From     string // the From address
	Domain   string // the signing domain (d=), equal to the From domain
	Selector string // s=
}

// Verify checks the identity of a raw message (CRLF line ends; LF-only input is converted):
// exactly one From and one Multimail-Identity field, the field's mailbox equal to the From
// address, and an ed25519-sha256 DKIM-Signature whose d= is the From domain, whose h= covers
// RequiredHeaders, with no l=, that verifies with the key lookup finds. The error wraps one
// of the Err* values above (ErrMalformed for a bad header value or From).
func Verify(msg []byte, lookup LookupFunc) (*Result, error) {
	msg = toCRLF(msg)
	from, err := fromAddress(msg)
	if err != nil {
		return nil, err
	}
	_, fromDomain, _ := strings.Cut(from, "@")
	ids := fields(msg, FieldName)
	switch {
	case len(ids) == 0:
		return nil, ErrMissingHeader
	case len(ids) > 1:
		return nil, fmt.Errorf("%w: %d Multimail-Identity fields", ErrMalformed, len(ids))
	}
	h, err := ParseHeader(ids[0])
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(h.Mailbox, from) {
		return nil, fmt.Errorf("%w: the header names %s, From is %s", ErrNotAligned, h.Mailbox, from)
	}
	var firstErr error
	found := false
	for _, raw := range rawFields(msg, "DKIM-Signature") {
		tags := sigTags(raw)
		if tags["a"] != "ed25519-sha256" || !coversIdentity(tags["h"]) {
			continue
		}
		found = true
		res, err := verifyOne(msg, raw, tags, from, fromDomain, lookup)
		if err == nil {
			res.Header = h
			return res, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if !found {
		return nil, ErrNoSignature
	}
	return nil, firstErr
}

// verifyOne checks one candidate identity signature.
func verifyOne(msg, raw []byte, tags map[string]string, from, fromDomain string, lookup LookupFunc) (*Result, error) {
	d, sel := strings.ToLower(tags["d"]), tags["s"]
	if d != strings.ToLower(fromDomain) {
		return nil, fmt.Errorf("%w: d=%s, From domain %s", ErrNotAligned, d, fromDomain)
	}
	if _, ok := tags["l"]; ok {
		return nil, fmt.Errorf("%w: the identity signature has l= (a partial body hash)", ErrBadSignature)
	}
	if missing := missingHeaders(tags["h"]); len(missing) > 0 {
		return nil, fmt.Errorf("%w: h= does not cover %s", ErrBadSignature, strings.Join(missing, ", "))
	}
	recs, err := lookup(sel + "._domainkey." + d)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s._domainkey.%s: %v", ErrUnknownKey, sel, d, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: no record at %s._domainkey.%s", ErrUnknownKey, sel, d)
	}
	if len(recs) == 1 && revoked(recs[0]) {
		return nil, fmt.Errorf("%w: %s._domainkey.%s", ErrRevokedKey, sel, d)
	}
	// Verify this signature alone: the other DKIM-Signature fields are outside its h=.
	one := make([]byte, 0, len(msg)+len(raw))
	one = append(append(one, raw...), RemoveFields(msg, "DKIM-Signature")...)
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(one), &dkim.VerifyOptions{
		LookupTXT: func(string) ([]string, error) { return recs, nil }, MaxVerifications: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if len(vs) != 1 {
		return nil, fmt.Errorf("%w: %d verifications", ErrBadSignature, len(vs))
	}
	if e := vs[0].Err; e != nil {
		switch msg := e.Error(); {
		case strings.Contains(msg, "body hash did not verify"):
			return nil, fmt.Errorf("%w (%s=%s)", ErrBodyHash, "s", sel)
		case strings.Contains(msg, "key revoked"):
			return nil, fmt.Errorf("%w: %s._domainkey.%s", ErrRevokedKey, sel, d)
		default:
			return nil, fmt.Errorf("%w: %v", ErrBadSignature, e)
		}
	}
	return &Result{From: from, Domain: d, Selector: sel}, nil
}

// fromAddress returns the one From address, lower-cased.
func fromAddress(msg []byte) (string, error) {
	fs := fields(msg, "From")
	if len(fs) != 1 {
		return "", fmt.Errorf("%w: %d From fields", ErrMalformed, len(fs))
	}
	addrs, err := mail.ParseAddressList(fs[0])
	if err != nil || len(addrs) != 1 {
		return "", fmt.Errorf("%w: From %q is not one address", ErrMalformed, fs[0])
	}
	a := strings.ToLower(addrs[0].Address)
	if !strings.Contains(a, "@") {
		return "", fmt.Errorf("%w: From %q has no domain", ErrMalformed, fs[0])
	}
	return a, nil
}

// rawFields returns the raw bytes (folding and CRLF included) of the fields named name.
func rawFields(msg []byte, name string) [][]byte {
	var out [][]byte
	rest := msg
	for len(rest) > 0 && !bytes.HasPrefix(rest, []byte("\r\n")) {
		end := fieldEnd(rest)
		if isField(rest[:end], name) {
			out = append(out, rest[:end])
		}
		rest = rest[end:]
	}
	return out
}

// sigTags parses a DKIM-Signature field's tag list (RFC 6376 §3.2), whitespace removed.
func sigTags(raw []byte) map[string]string {
	_, v, _ := bytes.Cut(raw, []byte{':'})
	tags := map[string]string{}
	for _, p := range strings.Split(string(v), ";") {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := tags[k]; !dup {
			tags[k] = strings.Join(strings.Fields(val), "")
		}
	}
	return tags
}

// hList returns the lower-cased names of an h= value.
func hList(h string) []string {
	var out []string
	for _, n := range strings.Split(h, ":") {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func coversIdentity(h string) bool {
	return slices.Contains(hList(h), strings.ToLower(FieldName))
}

// missingHeaders lists the RequiredHeaders (with their multiplicity) h= lacks.
func missingHeaders(h string) []string {
	have := map[string]int{}
	for _, n := range hList(h) {
		have[n]++
	}
	var missing []string
	for _, r := range RequiredHeaders {
		n := strings.ToLower(r)
		if have[n] == 0 {
			missing = append(missing, r)
			continue
		}
		have[n]--
	}
	return missing
}

// revoked reports whether a DKIM key record has an empty p=.
func revoked(rec string) bool {
	for _, p := range strings.Split(rec, ";") {
		k, v, ok := strings.Cut(p, "=")
		if ok && strings.TrimSpace(k) == "p" {
			return strings.TrimSpace(v) == ""
		}
	}
	return false
}

// toCRLF turns LF-only line ends into CRLF (a message saved by a tool that dropped the CRs).
func toCRLF(msg []byte) []byte {
	if !bytes.Contains(msg, []byte("\n")) || bytes.Contains(msg, []byte("\r\n")) {
		return msg
	}
	return bytes.ReplaceAll(msg, []byte("\n"), []byte("\r\n"))
}
