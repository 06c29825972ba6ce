package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RawIMAP is a raw IMAP connection for scripted sessions: it sends command lines as they are
// written and collects every response up to the command's tagged one, literals included.
type RawIMAP struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
}

// DialRawIMAP connects to addr (over TLS when tc is set) and reads the greeting.
func DialRawIMAP(t testing.TB, addr string, tc *tls.Config) *RawIMAP {
	t.Helper()
	var conn net.Conn
	var err error
	if tc != nil {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, tc)
	} else {
		conn, err = net.DialTimeout("tcp", addr, 10*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &RawIMAP{t: t, conn: conn, r: bufio.NewReader(conn)}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.readUnit(); err != nil {
		t.Fatalf("greeting from %s: %v", addr, err)
	}
	return c
}

var literalAtEnd = regexp.MustCompile(`\{(\d+)\+?\}\r\n$`)

// readUnit reads one response: a line and the literals it announces.
func (c *RawIMAP) readUnit() (string, error) {
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		b.WriteString(line)
		m := literalAtEnd.FindStringSubmatch(line)
		if m == nil {
			return strings.TrimRight(b.String(), "\r\n"), nil
		}
		n, _ := strconv.Atoi(m[1])
		if n > 10<<20 {
			return b.String(), fmt.Errorf("literal of %d bytes", n)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return b.String(), err
		}
		b.Write(buf)
	}
}

var literalInCommand = regexp.MustCompile(`\{(\d+)\}\r\n`)

// Do sends one command (tag added; "{n}\r\n" in cmd are synchronising literals, sent after
// the server's continuation; the command "IDLE" is ended with DONE) and returns every
// response to it, the tagged one last, without CRLF.
func (c *RawIMAP) Do(cmd string) []string {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("t%d", c.n)
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	var out []string
	rest := tag + " " + cmd + "\r\n"
	for {
		loc := literalInCommand.FindStringIndex(rest)
		if loc == nil {
			break
		}
		if _, err := io.WriteString(c.conn, rest[:loc[1]]); err != nil {
			c.t.Fatalf("%s: %v", cmd, err)
		}
		rest = rest[loc[1]:]
		u, err := c.readUnit()
		if err != nil {
			c.t.Fatalf("%s: %v", cmd, err)
		}
		if !strings.HasPrefix(u, "+") { // refused: the tagged answer came instead
			out = append(out, u)
			if strings.HasPrefix(u, tag+" ") {
				return out
			}
			return append(out, c.until(tag)...)
		}
	}
	if _, err := io.WriteString(c.conn, rest); err != nil {
		c.t.Fatalf("%s: %v", cmd, err)
	}
	if strings.EqualFold(cmd, "IDLE") {
		u, err := c.readUnit()
		if err != nil {
			c.t.Fatalf("IDLE: %v", err)
		}
		if strings.HasPrefix(u, "+") {
			io.WriteString(c.conn, "DONE\r\n")
		} else {
			out = append(out, u)
			if strings.HasPrefix(u, tag+" ") {
				return out
			}
		}
	}
	return append(out, c.until(tag)...)
}

func (c *RawIMAP) until(tag string) []string {
	c.t.Helper()
	var out []string
	for i := 0; i < 100000; i++ {
		u, err := c.readUnit()
		if err != nil {
			c.t.Fatalf("reading responses to %s: %v (so far %q)", tag, err, out)
		}
		out = append(out, u)
		if strings.HasPrefix(u, tag+" ") {
			return out
		}
	}
	c.t.Fatalf("no end of responses to %s", tag)
	return nil
}

// Normalisation of responses for the differential test: what legitimately differs between
// two servers (human-readable text, timings, UIDVALIDITY, capability lists, the ID values,
// the order of untagged responses that has no defined order) is replaced or removed.
var (
	reTaggedText    = regexp.MustCompile(`^(t\d+ (?:OK|NO|BAD))(?: (\[[^\]]*\]))?.*$`)
	reUntaggedCond  = regexp.MustCompile(`^(\* (?:OK|NO|BAD|BYE))(?: (\[[^\]]*\]))?.*$`)
	reUIDValidity   = regexp.MustCompile(`(UIDVALIDITY|APPENDUID|COPYUID) \d+`)
	reInternalDate  = regexp.MustCompile(`INTERNALDATE "[^"]*"`)
	reModSeq        = regexp.MustCompile(`MODSEQ \(\d+\)`)
	reHighestModSeq = regexp.MustCompile(`HIGHESTMODSEQ \d+`)
)

// NormaliseIMAP turns the responses to cmd into comparable lines, sorted except the tagged
// one (kept last). Representation choices the grammar leaves open are made canonical: a
// literal holding no line break becomes a quoted string, a QUOTAROOT mailbox that is an atom
// loses its quotes, FETCH items are sorted (and UID,
// which a server may always add, dropped unless asked for), flag lists are sorted, and
// \Recent (not supported by multimail, dropped by IMAP4rev2) is removed.
func NormaliseIMAP(cmd string, units []string) []string {
	var out []string
	var tagged string
	wantUID := strings.Contains(strings.ToUpper(cmd), "UID")
	for _, u := range units {
		u = canonLiterals(u)
		if m := reFetch.FindStringSubmatch(u); m != nil {
			u = m[1] + canonFetchItems(m[2], wantUID) + ")"
		}
		u = reFlagList.ReplaceAllStringFunc(u, canonFlagList)
		u = canonList(cmd, u)
		u = reQuotaRootName.ReplaceAllString(u, "$1$2") // astring: an atom may be quoted
		if reRecent.MatchString(u) {
			continue
		}
		u = reUIDValidity.ReplaceAllString(u, "$1 V")
		u = reInternalDate.ReplaceAllString(u, `INTERNALDATE "D"`)
		u = reModSeq.ReplaceAllString(u, "MODSEQ (M)") // each server counts its own
		u = reHighestModSeq.ReplaceAllString(u, "HIGHESTMODSEQ M")
		switch {
		case strings.HasPrefix(u, "t"):
			m := reTaggedText.FindStringSubmatch(u)
			if m == nil {
				tagged = u
				continue
			}
			tagged = m[1]
			if m[2] != "" && !strings.HasPrefix(m[2], "[CAPABILITY ") {
				tagged += " " + m[2]
			}
		case strings.HasPrefix(u, "* CAPABILITY "):
			// capability sets are compared on their own
		case strings.HasPrefix(u, "* ID "):
			out = append(out, "* ID (…)")
		default:
			if m := reUntaggedCond.FindStringSubmatch(u); m != nil {
				if strings.HasPrefix(m[2], "[PERMANENTFLAGS ") && !strings.Contains(strings.ToUpper(cmd), "SELECT") && !strings.Contains(strings.ToUpper(cmd), "EXAMINE") {
					continue // a repeat after a new keyword, which \* already allowed
				}
				if m[2] == "" || strings.HasPrefix(m[2], "[CAPABILITY ") || strings.HasPrefix(m[2], "[HIGHESTMODSEQ ") {
					continue // text only, or capabilities, or CONDSTORE's (each server counts its own)
				}
				u = m[1] + " " + m[2]
			}
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return append(out, tagged)
}

var (
	reFetch    = regexp.MustCompile(`(?s)^(\* \d+ FETCH \()(.*)\)$`)
	reFlagList = regexp.MustCompile(`(FLAGS|PERMANENTFLAGS) \(([^()]*)\)`)
	reRecent   = regexp.MustCompile(`^\* \d+ RECENT$`)
	// The mailbox of a QUOTAROOT response quoted though it is a valid atom (RFC 9051 ATOM-CHAR).
	reQuotaRootName = regexp.MustCompile(`^(\* QUOTAROOT )"([^"\\(){ %*\]\x00-\x1f\x7f-\xff]+)"`)
)

// canonLiterals rewrites literals without CR or LF as quoted strings.
func canonLiterals(u string) string {
	var b strings.Builder
	for {
		loc := literalInCommand.FindStringSubmatchIndex(u)
		if loc == nil {
			b.WriteString(u)
			return b.String()
		}
		n, _ := strconv.Atoi(u[loc[2]:loc[3]])
		if loc[1]+n > len(u) {
			b.WriteString(u)
			return b.String()
		}
		data := u[loc[1] : loc[1]+n]
		b.WriteString(u[:loc[0]])
		if strings.ContainsAny(data, "\r\n") {
			b.WriteString(u[loc[0]:loc[1]] + data)
		} else {
			b.WriteString(strconv.Quote(data))
		}
		u = u[loc[1]+n:]
	}
}

// canonFlagList sorts a flag list and drops \Recent.
func canonFlagList(s string) string {
	m := reFlagList.FindStringSubmatch(s)
	var flags []string
	anyKeyword := m[1] == "PERMANENTFLAGS" && strings.Contains(m[2], `\*`)
	for _, f := range strings.Fields(m[2]) {
		if strings.EqualFold(f, `\Recent`) || anyKeyword && !strings.HasPrefix(f, `\`) {
			continue // \* already says any keyword may be stored
		}
		flags = append(flags, f)
	}
	sort.Strings(flags)
	return m[1] + " (" + strings.Join(flags, " ") + ")"
}

// canonFetchItems sorts the items of a FETCH response, drops UID unless wanted, and unquotes
// the header names of HEADER.FIELDS.
func canonFetchItems(s string, wantUID bool) string {
	var items []string
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		depth := 0
		for i < len(s) && (s[i] != ' ' || depth > 0) { // the item name, brackets may hold spaces
			switch s[i] {
			case '[':
				depth++
			case ']':
				depth--
			}
			i++
		}
		name := s[start:i]
		i++
		end := valueEnd(s, i)
		item := strings.ReplaceAll(name, `"`, "") + " " + s[i:end]
		i = end
		if name == "UID" && !wantUID {
			continue
		}
		items = append(items, item)
	}
	sort.Strings(items)
	return strings.Join(items, " ")
}

// valueEnd returns the end of the IMAP value starting at s[i]: a quoted string, a literal, a
// parenthesised list (strings and literals inside skipped) or an atom.
func valueEnd(s string, i int) int {
	depth := 0
	for i < len(s) {
		switch c := s[i]; {
		case c == '"':
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case c == '{':
			j := strings.Index(s[i:], "}\r\n")
			if j < 0 {
				return len(s)
			}
			n, _ := strconv.Atoi(strings.TrimSuffix(s[i+1:i+j], "+"))
			i += j + 3 + n
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
		case c == ' ' && depth == 0:
			return i
		default:
			i++
		}
		if depth == 0 && i < len(s) && s[i] == ' ' {
			return i
		}
	}
	if i > len(s) {
		return len(s)
	}
	return i
}

var (
	reList   = regexp.MustCompile(`^\* (LIST|LSUB) \(([^)]*)\) ("[^"]*"|NIL) ("(?:[^"\\]|\\.)*"|[^ ]+)(.*)$`)
	reStatus = regexp.MustCompile(`^\* STATUS ("(?:[^"\\]|\\.)*"|[^ ]+) (.*)$`)
)

// canonMailbox writes a quoted mailbox name that needs no quotes as an atom.
func canonMailbox(name string) string {
	if !strings.HasPrefix(name, `"`) {
		return name
	}
	inner := name[1 : len(name)-1]
	if inner == "" || strings.ContainsAny(inner, "(){ %*\"\\]") {
		return name
	}
	return inner
}

// canonList keeps the LIST/LSUB attributes the command asked about: \Subscribed only with
// SUBSCRIBED, \HasChildren/\HasNoChildren only with CHILDREN, special-use ones only with
// SPECIAL-USE or a plain LIST (RFC 5258 §3, RFC 6154 §2 let a server add the others), and
// none of these on LSUB; mailbox names are made canonical.
func canonList(cmd, u string) string {
	if m := reStatus.FindStringSubmatch(u); m != nil {
		return "* STATUS " + canonMailbox(m[1]) + " " + m[2]
	}
	m := reList.FindStringSubmatch(u)
	if m == nil {
		return u
	}
	up := strings.ToUpper(cmd)
	plain := m[1] == "LIST" && !strings.Contains(up, "(")
	var keep []string
	for _, a := range strings.Fields(m[2]) {
		switch strings.ToLower(a) {
		case `\subscribed`:
			if m[1] == "LSUB" || !strings.Contains(up, "SUBSCRIBED") {
				continue
			}
		case `\haschildren`, `\hasnochildren`:
			if m[1] == "LSUB" || !strings.Contains(up, "CHILDREN") && !plain {
				continue
			}
		case `\all`, `\archive`, `\drafts`, `\flagged`, `\junk`, `\sent`, `\trash`:
			if m[1] == "LSUB" || !plain && !strings.Contains(up, "SPECIAL-USE") {
				continue
			}
		}
		keep = append(keep, a)
	}
	sort.Strings(keep)
	return fmt.Sprintf("* %s (%s) %s %s%s", m[1], strings.Join(keep, " "), m[3], canonMailbox(m[4]), m[5])
}

var reTaggedCode = regexp.MustCompile(`^(t\d+ (?:NO|BAD)) \[[^\]]*\]$`)

// withoutFailureCodes drops the response code of a tagged NO or BAD: RFC 5530 codes are
// optional, and where two servers both give one they may pick different ones.
func withoutFailureCodes(lines []string) []string {
	out := slices.Clone(lines)
	if n := len(out); n > 0 {
		out[n-1] = reTaggedCode.ReplaceAllString(out[n-1], "$1")
	}
	return out
}
