package submission

import (
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
)

// RFC 5321 §4.5.3.1: size limits of an address.
const (
	maxLocalLen   = 64
	maxDomainLen  = 255
	maxAddressLen = 254 // RFC 3696 errata 1690: a path is at most 256 octets with its brackets
	maxLabelLen   = 63
)

// checkAddress validates an addr-spec as multimail accepts it for sending: a dot-atom local part
// (UTF-8 allowed, RFC 6531) without the relay characters '%' and '!' and without quoting, '@',
// and an LDH domain name (no address literal, no trailing dot). It returns the address with its
// domain in lower case. The message says what is wrong without echoing the input.
func checkAddress(addr string) (string, string) {
	if addr == "" {
		return "", "address is empty"
	}
	if len(addr) > maxAddressLen {
		return "", "address is too long"
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "address must be local@domain"
	}
	local, domain := addr[:at], addr[at+1:]
	if msg := checkLocalPart(local); msg != "" {
		return "", msg
	}
	if msg := checkDomain(domain); msg != "" {
		return "", msg
	}
	return local + "@" + strings.ToLower(domain), ""
}

// checkLocalPart accepts RFC 5322 dot-atom text minus '%' and '!' (RFC 5321 §3.6.1/§3.6.2 relay
// forms), with UTF-8 letters (RFC 6531). Quoted local parts are refused: we never need them
// to send and they are the usual carrier of relay and parser tricks.
func checkLocalPart(local string) string {
	if len(local) > maxLocalLen {
		return "local part is too long"
	}
	if !utf8.ValidString(local) {
		return "local part is not valid UTF-8"
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "local part has a misplaced dot"
	}
	for _, r := range local {
		switch {
		case r == '%' || r == '!':
			return "relay characters ('%' or '!') are not allowed"
		case r == '.' || r >= 0x80:
		case r < 0x80 && !isAtext(byte(r)):
			return "local part has a character that is not allowed"
		}
	}
	return ""
}

// isAtext reports an RFC 5322 §3.2.3 atext character.
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// checkDomain accepts an ASCII host name of LDH labels (IDNs come as A-labels). A single label is
// allowed: the dev default domain is "localhost".
func checkDomain(domain string) string {
	if len(domain) > maxDomainLen {
		return "domain is too long"
	}
	if domain[0] == '[' {
		return "address literals are not allowed"
	}
	for _, label := range strings.Split(domain, ".") {
		if msg := checkLabel(label); msg != "" {
			return msg
		}
	}
	return ""
}

// checkLabel validates one LDH label (RFC 1035 §2.3.1, RFC 1123 §2.1).
func checkLabel(label string) string {
	if label == "" || len(label) > maxLabelLen {
		return "domain has an empty or over-long label"
	}
	if label[0] == '-' || label[len(label)-1] == '-' {
		return "domain label starts or ends with '-'"
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "domain has a character that is not allowed"
		}
	}
	return ""
}

// domainOf returns the lower-case domain of a checked address.
func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

// parseHeaderAddress parses an API address field: a bare addr-spec or "Name <addr-spec>". CR
// and LF are refused before parsing so nothing can reach a header line.
func parseHeaderAddress(field, s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fieldErr(field, "must not contain CR or LF")
	}
	if strings.ContainsRune(s, 0) {
		return nil, fieldErr(field, "must not contain NUL")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fieldErr(field, "not a valid email address")
	}
	addr, msg := checkAddress(a.Address)
	if msg != "" {
		return nil, fieldErr(field, msg)
	}
	if hasControl(a.Name) {
		return nil, fieldErr(field, "display name has control characters")
	}
	return &mail.Address{Name: a.Name, Address: addr}, nil
}

// hasControl reports an ASCII control character other than TAB.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
