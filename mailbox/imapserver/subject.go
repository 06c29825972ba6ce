package imapserver

import "strings"

// baseSubject extracts the base subject of a decoded Subject (RFC 5256 §2.1),
// used by SORT SUBJECT and both THREAD algorithms; reply is true when a
// reply or forward marker ("Re:", "Fwd:", "[fwd: …]") was removed, which
// THREAD=REFERENCES needs (§4 step 5). The result is upper-cased for
// comparison (a stand-in for i;unicode-casemap).
func baseSubject(s string) (base string, reply bool) {
	// (1) whitespace runs, tabs and folding become one space.
	s = strings.Join(strings.Fields(s), " ")
	for {
		// (2) subj-trailer: "(fwd)" and whitespace at the end.
		for {
			t := strings.TrimRight(s, " ")
			if len(t) >= 5 && strings.EqualFold(t[len(t)-5:], "(fwd)") {
				t, reply = t[:len(t)-5], true
			}
			if t == s {
				break
			}
			s = t
		}
		// (3) and (4): subj-leader and subj-blob, until neither applies.
		for {
			t, r := trimLeader(s)
			reply = reply || r
			t = trimBlob(t)
			if t == s {
				break
			}
			s = t
		}
		// (5) subj-fwd-hdr "[fwd:" … subj-fwd-trl "]".
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s, reply = s[5:len(s)-1], true
			continue
		}
		return strings.ToUpper(s), reply
	}
}

// trimLeader removes one subj-leader: (*subj-blob subj-refwd) / WSP, where
// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":". reply reports a
// removed subj-refwd.
func trimLeader(s string) (string, bool) {
	if strings.HasPrefix(s, " ") {
		return strings.TrimLeft(s, " "), false
	}
	t := s
	for {
		n, ok := blobLen(t)
		if !ok {
			break
		}
		t = t[n:]
	}
	var n int
	switch {
	case len(t) >= 3 && strings.EqualFold(t[:3], "fwd"):
		n = 3
	case len(t) >= 2 && (strings.EqualFold(t[:2], "fw") || strings.EqualFold(t[:2], "re")):
		n = 2
	default:
		return s, false
	}
	t = strings.TrimLeft(t[n:], " ")
	if b, ok := blobLen(t); ok {
		t = t[b:]
	}
	if !strings.HasPrefix(t, ":") {
		return s, false
	}
	return t[1:], true
}

// trimBlob removes one leading subj-blob if what is left is not empty (§2.1
// step 4: a subject that is only a blob keeps it).
func trimBlob(s string) string {
	n, ok := blobLen(s)
	if !ok || strings.TrimLeft(s[n:], " ") == "" {
		return s
	}
	return s[n:]
}

// blobLen is the length of subj-blob = "[" *BLOBCHAR "]" *WSP at the start of
// s, BLOBCHAR being any character but "[" and "]".
func blobLen(s string) (int, bool) {
	if !strings.HasPrefix(s, "[") {
		return 0, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return 0, false
	}
	n := end + 2
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n, true
}
