package inbound

import (
	"bytes"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"time"

	"multimail.dev/multimail/identity"
)

// field is one header field of a raw message: its name and its raw bytes, continuation
// lines and final CRLF included.
type field struct {
	name string
	raw  []byte
}

// value is the field's body, unfolded (RFC 5322 §2.2.3), without the final CRLF.
func (f field) value() string {
	_, v, _ := bytes.Cut(f.raw, []byte{':'})
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	return strings.TrimSpace(string(v))
}

// splitHeader cuts raw into its header fields and its body (what follows the empty line, or
// nothing when there is none). It never fails: a line without a colon becomes a field with an
// empty name and is kept as it is, so that what we do not touch is written back byte for byte.
func splitHeader(raw []byte) (fields []field, body []byte) {
	rest := raw
	for len(rest) > 0 {
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return fields, rest[2:]
		}
		end := fieldEnd(rest)
		line := rest[:end]
		name, _, ok := bytes.Cut(line, []byte{':'})
		if !ok || bytes.ContainsAny(name, " \t\r\n") {
			name = nil
		}
		fields = append(fields, field{name: string(name), raw: line})
		rest = rest[end:]
	}
	return fields, nil
}

// fieldEnd returns the length of the field at the start of b: up to the CRLF that is not
// followed by a space or tab (RFC 5322 §2.2.3 folding).
func fieldEnd(b []byte) int {
	i := 0
	for {
		j := bytes.Index(b[i:], []byte("\r\n"))
		if j < 0 {
			return len(b)
		}
		i += j + 2
		if i >= len(b) || (b[i] != ' ' && b[i] != '\t') {
			return i
		}
	}
}

// authServID returns the authserv-id of an Authentication-Results value (RFC 8601 §2.2):
// the first token, after any comments.
func authServID(v string) string {
	v = stripComments(v)
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " \t;"); i >= 0 {
		v = v[:i]
	}
	return v
}

// stripComments removes RFC 5322 comments (nested parentheses, quoted pairs).
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stripForgedAuthResults drops every Authentication-Results field claiming authservID: only
// we may write those (RFC 8601 §5). It returns raw unchanged when there is none.
func stripForgedAuthResults(raw []byte, authservID string) ([]byte, int) {
	fields, body := splitHeader(raw)
	var out bytes.Buffer
	dropped := 0
	for _, f := range fields {
		if strings.EqualFold(f.name, "Authentication-Results") &&
			strings.EqualFold(authServID(f.value()), authservID) {
			dropped++
			continue
		}
		out.Write(f.raw)
	}
	if dropped == 0 {
		return raw, 0
	}
	if body != nil {
		out.WriteString("\r\n")
		out.Write(body)
	}
	return out.Bytes(), dropped
}

// stripForgedIdentity drops every Multimail-Identity field (package identity) whose mailbox=
// is on a domain local reports as ours: only our release path writes those, so one arriving
// from outside is a forgery (or our own message come back, which keeps its DKIM signatures but
// loses the claim). Fields naming other domains are kept: another node's header is its own.
func stripForgedIdentity(raw []byte, local func(domain string) bool) ([]byte, int) {
	fields, body := splitHeader(raw)
	var out bytes.Buffer
	dropped := 0
	for _, f := range fields {
		if strings.EqualFold(f.name, identity.FieldName) {
			if d := identityDomain(f.value()); d != "" && local(d) {
				dropped++
				continue
			}
		}
		out.Write(f.raw)
	}
	if dropped == 0 {
		return raw, 0
	}
	if body != nil {
		out.WriteString("\r\n")
		out.Write(body)
	}
	return out.Bytes(), dropped
}

// identityDomain is the lower-cased domain of a Multimail-Identity value's mailbox= tag, read
// loosely (whitespace and case ignored, the header's other tags unchecked), or "".
func identityDomain(v string) string {
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "mailbox") {
			continue
		}
		if i := strings.LastIndexByte(val, '@'); i >= 0 {
			return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(val[i+1:]), "."))
		}
	}
	return ""
}

// fromDomain returns the domain of the message's single From: author (RFC 7489 §6.6.1), or ""
// when there is no From:, more than one, or it cannot be parsed.
func fromDomain(fields []field) string {
	var from []field
	for _, f := range fields {
		if strings.EqualFold(f.name, "From") {
			from = append(from, f)
		}
	}
	if len(from) != 1 {
		return ""
	}
	addr := fromAddress(from[0].value())
	_, dom, ok := strings.Cut(addr, "@")
	if !ok || strings.Contains(dom, "@") {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(dom, "."))
}

// fromAddress parses a From: value holding one address; an undecodable display name falls back
// to the last <addr-spec>.
func fromAddress(v string) string {
	list, err := mail.ParseAddressList(v)
	if err == nil {
		if len(list) != 1 {
			return ""
		}
		return list[0].Address
	}
	open, closing := strings.LastIndexByte(v, '<'), strings.LastIndexByte(v, '>')
	if open < 0 || closing < open {
		return ""
	}
	return strings.TrimSpace(v[open+1 : closing])
}

// receivedInfo is what the Received: trace field records (RFC 5321 §4.4).
type receivedInfo struct {
	helo, ip, by, id, rcpt string
	tls, utf8              bool
	at                     time.Time
}

// receivedField formats the Received: trace field, folded, with its CRLF.
func receivedField(r receivedInfo) string {
	proto := "ESMTP"
	if r.utf8 {
		proto = "UTF8SMTP"
	}
	if r.tls {
		proto += "S"
	}
	s := fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (multimail) with %s id %s",
		headerSafe(r.helo, "unknown"), r.ip, headerSafe(r.by, "localhost"), proto, r.id)
	if r.rcpt != "" {
		s += "\r\n\tfor <" + headerSafe(r.rcpt, "") + ">"
	}
	return s + ";\r\n\t" + r.at.Format(time.RFC1123Z) + "\r\n"
}

// headerSafe keeps a client-given token printable, without spaces, parentheses or angle
// brackets (it cannot break the field), at most 255 bytes; "" becomes def.
func headerSafe(s, def string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 255; i++ {
		c := s[i]
		if c > ' ' && c < 0x7f && !strings.ContainsRune("()<>;\\\"", rune(c)) {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return def
	}
	return b.String()
}

// remoteIP returns the IP of a connection's remote address.
func remoteIP(a net.Addr) net.IP {
	switch v := a.(type) {
	case *net.TCPAddr:
		return v.IP
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}
