package imapserver

// This file describes a stored message as ENVELOPE and BODYSTRUCTURE. Mail
// arrives from anyone on port 25, so the description must hold for any bytes:
// empty multiparts, missing or broken boundaries, missing or invalid headers,
// unknown charsets, deep nesting. go-imap's own ExtractBodyStructure returns
// a multipart with no children for "multipart/mixed; boundary=zz" without
// parts, and its writer panics on that (dropping the connection on every
// later FETCH BODYSTRUCTURE: a poison message), so the walk is ours.

import (
	"bufio"
	"bytes"
	"io"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

const (
	// maxDepth bounds the nesting of multiparts and message/rfc822 that
	// is described; a deeper part is described as one opaque
	// application/octet-stream part. Nothing legitimate nests this deep.
	maxDepth = 32
	// maxParts bounds the number of parts described in one message
	// (Dovecot's default limit is 10000 too); later parts are left out.
	maxParts = 10000
)

// bodyStructure describes raw. Every multipart in the result has at least
// one child and every string is valid UTF-8 without NUL, CR or LF.
func bodyStructure(raw []byte) imap.BodyStructure {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, _ := textproto.ReadHeader(br)
	var w walker
	return w.part(h, br, 0, "text/plain")
}

// envelope describes the header of raw as an ENVELOPE.
func envelope(raw []byte) *imap.Envelope {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	env := goimap.ExtractEnvelope(h)
	// The subject as it stands in the header (encoded words kept, RFC 9051
	// §7.5.2), not decoded and encoded again.
	env.Subject = unfold(h.Get("Subject"))
	// Group syntax (RFC 5322 §3.4) is kept as IMAP's group markers.
	for _, f := range []struct {
		key string
		l   *[]imap.Address
	}{{"To", &env.To}, {"Cc", &env.Cc}, {"Bcc", &env.Bcc}, {"From", &env.From}, {"Reply-To", &env.ReplyTo}} {
		if v := h.Get(f.key); strings.Contains(v, ":") {
			if l, ok := groupAddressList(v); ok {
				*f.l = l
				continue
			}
		}
		rawDisplayNames(h.Get(f.key), *f.l)
	}
	return cleanEnvelope(env)
}

// rawDisplayNames puts back the display names with encoded words as they
// stand in the header (RFC 9051 §7.5.2 asks for the header's text; Dovecot
// does so), instead of decoded and encoded again. Only where every address of
// v was parsed, so that list matches v's addresses one for one, and only ASCII
// names (8-bit names go out encoded).
func rawDisplayNames(v string, list []imap.Address) {
	segs := splitTopLevel(unfold(v), ',')
	if len(segs) != len(list) {
		return
	}
	for i, seg := range segs {
		if name, ok := rawPhrase(seg); ok && strings.Contains(name, "=?") && isASCII(name) {
			list[i].Name = name
		}
	}
}

// rawPhrase is the display name before "<" in one address, unquoted.
func rawPhrase(seg string) (string, bool) {
	i := strings.LastIndexByte(seg, '<')
	if i < 0 {
		return "", false
	}
	p := strings.TrimSpace(seg[:i])
	if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
		var b strings.Builder
		for j := 1; j < len(p)-1; j++ {
			if p[j] == '\\' && j+1 < len(p)-1 {
				j++
			}
			b.WriteByte(p[j])
		}
		p = b.String()
	}
	return p, p != ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			return false
		}
	}
	return true
}

// unfold joins a folded header value onto one line.
func unfold(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "")
	v = strings.ReplaceAll(v, "\n", "")
	return strings.TrimSpace(v)
}

// groupAddressList parses an address list holding group syntax into IMAP
// addresses with group markers: (NIL NIL "name" NIL) starts a group, (NIL
// NIL NIL NIL) ends it. It reports false when the value has no group or does
// not parse; the caller then keeps go-imap's flat list.
func groupAddressList(v string) ([]imap.Address, bool) {
	var out []imap.Address
	grouped := false
	for _, seg := range splitTopLevel(unfold(v), ',') {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue
		}
		if name, rest, ok := cutTopLevel(seg, ':'); ok {
			name = strings.Trim(strings.TrimSpace(name), `"`)
			if name == "" {
				return nil, false // no group name: not a group the client can tell from its end
			}
			grouped = true
			out = append(out, imap.Address{Mailbox: name})
			members, _, closed := cutTopLevel(rest, ';')
			list, ok := parseMembers(members)
			if !ok {
				return nil, false
			}
			out = append(out, list...)
			if closed {
				out = append(out, imap.Address{})
			}
			continue
		}
		if strings.HasSuffix(seg, ";") { // the last member of a group
			list, ok := parseMembers(strings.TrimSuffix(seg, ";"))
			if !ok {
				return nil, false
			}
			out = append(append(out, list...), imap.Address{})
			continue
		}
		list, ok := parseMembers(seg)
		if !ok {
			return nil, false
		}
		out = append(out, list...)
	}
	return out, grouped
}

func parseMembers(s string) ([]imap.Address, bool) {
	if strings.TrimSpace(s) == "" {
		return nil, true
	}
	l, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, false
	}
	out := make([]imap.Address, 0, len(l))
	for _, a := range l {
		mb, host, _ := strings.Cut(a.Address, "@")
		out = append(out, imap.Address{Name: a.Name, Mailbox: mb, Host: host})
	}
	return out, true
}

// splitTopLevel splits s at sep outside quoted strings, comments and angle
// brackets, and keeps group members (up to ";") in the group's segment.
func splitTopLevel(s string, sep byte) []string {
	var out []string
	start, quoted, depth, angle, group := 0, false, 0, false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		case c == ':':
			group = true
		case c == ';':
			group = false
		case c == sep && !group:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// cutTopLevel cuts s at the first sep outside quotes, comments and angle
// brackets.
func cutTopLevel(s string, sep byte) (before, after string, found bool) {
	quoted, depth, angle := false, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		case c == sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// cleanEnvelope keeps only what every client parses: a date with a
// four-digit year and strings without NUL, CR or LF.
func cleanEnvelope(env *imap.Envelope) *imap.Envelope {
	if y := env.Date.Year(); y < 1 || y > 9999 {
		env.Date = time.Time{} // written as NIL
	}
	env.Subject = clean(env.Subject)
	env.MessageID = cleanID(env.MessageID)
	for i, id := range env.InReplyTo {
		env.InReplyTo[i] = cleanID(id)
	}
	for _, l := range [][]imap.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		for i := range l {
			l[i].Name, l[i].Mailbox, l[i].Host = clean(l[i].Name), clean(l[i].Mailbox), clean(l[i].Host)
		}
	}
	return env
}

// walker carries the part count across one message's walk.
type walker struct{ parts int }

// part describes one entity whose header is h and whose body is read from
// r; defType is the type a part without a valid Content-Type has (RFC 2045
// §5.2: text/plain, but message/rfc822 inside multipart/digest, RFC 2046
// §5.1.5).
func (w *walker) part(h textproto.Header, r io.Reader, depth int, defType string) imap.BodyStructure {
	w.parts++
	hdr := gomessage.Header{Header: h}
	typ, sub, params := contentType(hdr, defType)
	switch {
	case depth >= maxDepth && (typ == "multipart" || typ == "message"):
		typ, sub, params = "application", "octet-stream", nil
	case typ == "multipart" && params["boundary"] == "":
		// RFC 2046 §5.1.1: the boundary is required; without one
		// the Content-Type is invalid, so the RFC 2045 §5.2 default.
		typ, sub, params = "text", "plain", map[string]string{"charset": "us-ascii"}
	case typ == "multipart":
		return w.multipart(hdr, sub, params, r, depth)
	}
	return w.single(hdr, typ, sub, params, r, depth)
}

func (w *walker) multipart(hdr gomessage.Header, sub string, params map[string]string, r io.Reader, depth int) imap.BodyStructure {
	bs := &imap.BodyStructureMultiPart{Subtype: sub}
	childType := "text/plain"
	if sub == "digest" {
		childType = "message/rfc822"
	}
	mr := textproto.NewMultipartReader(r, params["boundary"])
	for w.parts < maxParts {
		p, err := mr.NextPart()
		if err != nil || p == nil {
			break
		}
		bs.Children = append(bs.Children, w.part(p.Header, p, depth+1, childType))
	}
	if len(bs.Children) == 0 {
		// RFC 9051 body-type-mpart needs one body at least; like
		// Dovecot, an empty multipart gets one empty text/plain part.
		bs.Children = []imap.BodyStructure{emptyPart()}
	}
	bs.Extended = &imap.BodyStructureMultiPartExt{
		Params:      params,
		Disposition: disposition(hdr),
		Language:    language(hdr),
		Location:    clean(hdr.Get("Content-Location")),
	}
	return bs
}

func (w *walker) single(hdr gomessage.Header, typ, sub string, params map[string]string, r io.Reader, depth int) imap.BodyStructure {
	cr := &countingReader{r: r}
	bs := &imap.BodyStructureSinglePart{
		Type: typ, Subtype: sub, Params: params,
		ID:          clean(hdr.Get("Content-Id")),
		Description: clean(hdr.Get("Content-Description")),
		Encoding:    encoding(hdr),
	}
	if typ == "message" && (sub == "rfc822" || sub == "global") {
		br := bufio.NewReader(cr)
		ch, _ := textproto.ReadHeader(br)
		msg := &imap.BodyStructureMessageRFC822{
			Envelope:      cleanEnvelope(goimap.ExtractEnvelope(ch)),
			BodyStructure: w.part(ch, br, depth+1, "text/plain"),
		}
		io.Copy(io.Discard, br) //nolint:errcheck // reading bytes cannot fail
		msg.NumLines = cr.lines
		bs.MessageRFC822 = msg
	}
	io.Copy(io.Discard, cr) //nolint:errcheck // reading bytes cannot fail
	bs.Size = uint32(min(cr.n, 1<<32-1))
	if typ == "text" {
		bs.Text = &imap.BodyStructureText{NumLines: cr.lines}
	}
	bs.Extended = &imap.BodyStructureSinglePartExt{
		Disposition: disposition(hdr),
		Language:    language(hdr),
		Location:    clean(hdr.Get("Content-Location")),
	}
	return bs
}

func emptyPart() *imap.BodyStructureSinglePart {
	return &imap.BodyStructureSinglePart{
		Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"},
		Encoding: "7bit", Text: &imap.BodyStructureText{},
		Extended: &imap.BodyStructureSinglePartExt{},
	}
}

// contentType returns the type, subtype and parameters of hdr; a missing or
// invalid Content-Type is defType (RFC 2045 §5.2).
func contentType(hdr gomessage.Header, defType string) (typ, sub string, params map[string]string) {
	mt, ps, err := hdr.ContentType()
	typ, sub, ok := strings.Cut(mt, "/")
	if (err != nil && mt == "") || !ok || typ == "" || sub == "" || !token(typ) || !token(sub) {
		typ, sub, _ = strings.Cut(defType, "/")
		if typ == "text" {
			return typ, sub, map[string]string{"charset": "us-ascii"}
		}
		return typ, sub, nil
	}
	params = cleanParams(ps)
	if typ == "text" && params["charset"] == "" {
		// RFC 2045 §5.2: text without a charset is US-ASCII; say so, as Dovecot does.
		if params == nil {
			params = make(map[string]string, 1)
		}
		params["charset"] = "us-ascii"
	}
	return typ, sub, params
}

func disposition(hdr gomessage.Header) *imap.BodyStructureDisposition {
	d, ps, _ := hdr.ContentDisposition()
	if d == "" || !token(d) {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: d, Params: cleanParams(ps)}
}

func language(hdr gomessage.Header) []string {
	var out []string
	for _, l := range strings.Split(hdr.Get("Content-Language"), ",") {
		if l = clean(strings.TrimSpace(l)); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// encoding returns the Content-Transfer-Encoding in lower case, "7bit" when
// missing or not a token.
func encoding(hdr gomessage.Header) string {
	e := strings.ToLower(strings.TrimSpace(hdr.Get("Content-Transfer-Encoding")))
	if e == "" || !token(e) {
		return "7bit"
	}
	return e
}

func cleanParams(ps map[string]string) map[string]string {
	out := make(map[string]string, len(ps))
	for k, v := range ps {
		if k = clean(k); k != "" {
			out[k] = clean(v)
		}
	}
	return out
}

// clean makes s valid UTF-8 without NUL, CR or LF (a CR or LF becomes a
// space, as unfolding would make it).
func clean(s string) string {
	if utf8.ValidString(s) && !strings.ContainsAny(s, "\x00\r\n") {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch r {
		case 0:
			return -1
		case '\r', '\n':
			return ' '
		}
		return r
	}, s)
}

// cleanID is clean for a message id, which is written between < and >.
func cleanID(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '<' || r == '>' || r == ' ' {
			return -1
		}
		return r
	}, clean(s))
}

// token reports whether s is an RFC 2045 token.
func token(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// countingReader counts the bytes and line feeds read through it.
type countingReader struct {
	r     io.Reader
	n     int64
	lines int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.lines += int64(bytes.Count(p[:n], []byte("\n")))
	return n, err
}
