package imapserver

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
)

// lastTag is the tag rawIMAP.do gave the last command.
func (c *rawIMAP) lastTag() string { return fmt.Sprintf("r%d", c.n) }

// noopUntil sends NOOP until done holds for the untagged lines collected so far (the
// watch delivers another session's changes asynchronously); bounded.
func noopUntil(t *testing.T, c *rawIMAP, done func([]string) bool) []string {
	t.Helper()
	var all []string
	for i := 0; i < 200; i++ {
		all = append(all, c.ok("NOOP")...)
		if done(all) {
			return all
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("condition never held; got %q", all)
	return nil
}

var rePair = regexp.MustCompile(`(ADDTO|REMOVEFROM) \(([^)]*)\)`)

// applyUpdates applies the ESEARCH updates of tag in lines to result, as a client does
// (RFC 5267 §4.3.3-4.3.4: pairs in order, position 0 in mailbox order).
func applyUpdates(t *testing.T, result []uint32, lines []string, tag string, seqs bool) []uint32 {
	t.Helper()
	prefix := fmt.Sprintf(`* ESEARCH (TAG "%s") `, tag)
	for _, l := range lines {
		if n, ok := expunged(l); ok && seqs {
			// a sequence-number result renumbers on EXPUNGE, as the client's view does
			result = slices.DeleteFunc(result, func(m uint32) bool { return m == n })
			for i, m := range result {
				if m > n {
					result[i] = m - 1
				}
			}
			continue
		}
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		for _, m := range rePair.FindAllStringSubmatch(rest, -1) {
			f := strings.Fields(m[2])
			for i := 0; i+1 < len(f); i += 2 {
				pos, _ := strconv.Atoi(f[0+i])
				nums := expandOrdered(t, f[i+1])
				switch {
				case m[1] == "ADDTO" && pos == 0:
					result = append(result, nums...)
					slices.Sort(result)
				case m[1] == "ADDTO":
					result = slices.Insert(result, pos-1, nums...)
				case pos == 0:
					result = slices.DeleteFunc(result, func(n uint32) bool { return slices.Contains(nums, n) })
				default:
					if !slices.Equal(result[pos-1:pos-1+len(nums)], nums) {
						t.Fatalf("REMOVEFROM (%d %v) does not match result %v", pos, nums, result)
					}
					result = slices.Delete(result, pos-1, pos-1+len(nums))
				}
			}
		}
	}
	return result
}

var reExpunge = regexp.MustCompile(`^\* (\d+) EXPUNGE$`)

func expunged(l string) (uint32, bool) {
	m := reExpunge.FindStringSubmatch(l)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	return uint32(n), true
}

// expandOrdered reads a sequence-set in its written order ("5,3:4" is 5 3 4).
func expandOrdered(t *testing.T, s string) []uint32 {
	t.Helper()
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		lo, err := strconv.Atoi(a)
		must(t, err)
		hi := lo
		if isRange {
			hi, err = strconv.Atoi(b)
			must(t, err)
		}
		for n := lo; ; {
			out = append(out, uint32(n))
			if n == hi {
				break
			}
			if hi > lo {
				n++
			} else {
				n--
			}
		}
	}
	return out
}

// esearchAll is the ALL of the ESEARCH of tag in lines, in order.
func esearchAll(t *testing.T, lines []string, tag string) []uint32 {
	t.Helper()
	for _, l := range lines {
		if strings.HasPrefix(l, fmt.Sprintf(`* ESEARCH (TAG "%s")`, tag)) {
			if _, all, ok := strings.Cut(l, " ALL "); ok {
				return expandOrdered(t, strings.Fields(all)[0])
			}
			return nil
		}
	}
	t.Fatalf("no ESEARCH in %q", lines)
	return nil
}

func TestContextCapability(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	caps := strings.Join(e.raw(t).ok("CAPABILITY"), " ")
	for _, want := range []string{" CONTEXT=SEARCH", " CONTEXT=SORT", " ESORT"} {
		if !strings.Contains(caps, want) {
			t.Errorf("CAPABILITY lacks%s: %s", want, caps)
		}
	}
}

// TestContextSearchUpdate: a client keeps UNSEEN searches up to date (RFC 5267 §4.3) while
// another session marks messages seen, delivers and expunges, and while it changes flags
// itself; applying the updates always gives what a fresh search answers. CANCELUPDATE
// stops them; the contexts end with the mailbox.
func TestContextSearchUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var ems []mailbox.Email
	for i := 1; i <= 5; i++ {
		ems = append(ems, e.deliver(t, "INBOX", testMessage(i, fmt.Sprintf("m%d", i), "b"), mailbox.DeliverOptions{}))
	}
	c := e.raw(t)
	c.ok("SELECT INBOX")
	c.ok(`STORE 2 +FLAGS.SILENT (\Seen)`)

	u := c.ok("UID SEARCH RETURN (UPDATE COUNT) UNSEEN")
	uidTag := c.lastTag()
	if want := fmt.Sprintf(`* ESEARCH (TAG "%s") UID COUNT 4`, uidTag); !slices.Contains(u, want) {
		t.Fatalf("UID SEARCH RETURN (UPDATE COUNT): %q, want %q", u, want)
	}
	u = c.ok("SEARCH RETURN (UPDATE) UNSEEN")
	seqTag := c.lastTag()
	if want := fmt.Sprintf(`* ESEARCH (TAG "%s")`, seqTag); !slices.Equal(u, []string{want}) {
		t.Fatalf("SEARCH RETURN (UPDATE): %q, want only %q (UPDATE is a return option: no ALL)", u, want)
	}
	uidResult := []uint32{1, 3, 4, 5}
	seqResult := []uint32{1, 3, 4, 5}
	fresh := func() ([]uint32, []uint32) {
		uids := esearchAll(t, c.ok("UID SEARCH RETURN (ALL) UNSEEN"), c.lastTag())
		return uids, esearchAll(t, c.ok("SEARCH RETURN (ALL) UNSEEN"), c.lastTag())
	}
	check := func(step string, lines []string) {
		t.Helper()
		uidResult = applyUpdates(t, uidResult, lines, uidTag, false)
		seqResult = applyUpdates(t, seqResult, lines, seqTag, true)
		wantUID, wantSeq := fresh()
		if !slices.Equal(uidResult, wantUID) || !slices.Equal(seqResult, wantSeq) {
			t.Fatalf("%s: updated results UID %v seq %v, a fresh search says UID %v seq %v (lines %q)", step, uidResult, seqResult, wantUID, wantSeq, lines)
		}
	}
	hasTag := func(tag string) func([]string) bool {
		return func(lines []string) bool {
			return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf(`* ESEARCH (TAG "%s")`, tag)) })
		}
	}

	// Another session marks 4 seen: it leaves both results.
	_, err := e.store.SetFlags(context.Background(), ems[3].ID, []string{mailbox.FlagSeen}, nil)
	must(t, err)
	check("flag change elsewhere", noopUntil(t, c, hasTag(uidTag)))

	// New mail: EXISTS, then ADDTO (RFC 5267 §4.3.3).
	e.deliver(t, "INBOX", testMessage(6, "m6", "b"), mailbox.DeliverOptions{})
	lines := noopUntil(t, c, hasTag(seqTag))
	exists := slices.Index(lines, "* 6 EXISTS")
	add := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "ADDTO") })
	if exists < 0 || add < exists {
		t.Fatalf("new mail: want EXISTS then ADDTO, got %q", lines)
	}
	check("new mail", lines)

	// This session's own STORE: the STORE's answer carries the update.
	lines = c.ok(`STORE 3 +FLAGS (\Seen)`)
	if !slices.Contains(lines, fmt.Sprintf(`* ESEARCH (TAG "%s") REMOVEFROM (0 3)`, seqTag)) {
		t.Fatalf("own STORE: no REMOVEFROM in %q", lines)
	}
	check("own STORE", lines)
	lines = c.ok(`STORE 3 -FLAGS (\Seen)`)
	check("own STORE back", lines)

	// Expunge elsewhere: REMOVEFROM comes before the EXPUNGE (RFC 5267 §4.3.4).
	e.expungeUID(t, ems[0])
	lines = noopUntil(t, c, func(l []string) bool { return slices.Contains(l, "* 1 EXPUNGE") })
	rm := slices.Index(lines, fmt.Sprintf(`* ESEARCH (TAG "%s") REMOVEFROM (0 1)`, seqTag))
	if ex := slices.Index(lines, "* 1 EXPUNGE"); rm < 0 || rm > ex {
		t.Fatalf("expunge: want REMOVEFROM (0 1) before EXPUNGE, got %q", lines)
	}
	check("expunge elsewhere", lines)

	// This session's EXPUNGE.
	c.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`) // UID 3, unseen
	lines = c.ok("EXPUNGE")
	if rm, ex := slices.Index(lines, fmt.Sprintf(`* ESEARCH (TAG "%s") REMOVEFROM (0 2)`, seqTag)), slices.Index(lines, "* 2 EXPUNGE"); rm < 0 || rm > ex {
		t.Fatalf("own EXPUNGE: want REMOVEFROM before EXPUNGE, got %q", lines)
	}
	check("own expunge", lines)

	// CANCELUPDATE: an unknown tag is NO and cancels nothing; a tag must be quoted.
	if _, st := c.do(fmt.Sprintf(`CANCELUPDATE "%s" "nosuch"`, uidTag)); !strings.HasPrefix(st, "NO") {
		t.Fatalf("CANCELUPDATE of an unknown tag: %s", st)
	}
	if _, st := c.do(`CANCELUPDATE nosuch`); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("CANCELUPDATE with an atom: %s", st)
	}
	if _, st := c.do(`CANCELUPDATE`); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("CANCELUPDATE without a tag: %s", st)
	}
	c.ok(fmt.Sprintf(`CANCELUPDATE "%s"`, uidTag))
	e.deliver(t, "INBOX", testMessage(7, "m7", "b"), mailbox.DeliverOptions{})
	lines = noopUntil(t, c, hasTag(seqTag))
	if hasTag(uidTag)(lines) {
		t.Fatalf("update after CANCELUPDATE: %q", lines)
	}

	// Tag reuse with UPDATE is BAD (RFC 5267 §4.3).
	if _, st := c.doTag(seqTag, "SEARCH RETURN (UPDATE) ALL"); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("UPDATE under a live context's tag: %s", st)
	}

	// The contexts end with the mailbox.
	c.ok("UNSELECT")
	c.ok("SELECT INBOX")
	if _, st := c.do(fmt.Sprintf(`CANCELUPDATE "%s"`, seqTag)); !strings.HasPrefix(st, "NO") {
		t.Fatalf("CANCELUPDATE after UNSELECT: %s", st)
	}
}

// TestContextLimit: the eleventh UPDATE context is refused with an untagged
// NO [NOUPDATE "tag"]; the command still answers (RFC 5267 §4.3.1).
func TestContextLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(t, "INBOX", testMessage(1, "m1", "b"), mailbox.DeliverOptions{})
	c := e.raw(t)
	c.ok("SELECT INBOX")
	var first string
	for i := 0; i < maxUpdateContexts; i++ {
		c.ok("UID SEARCH RETURN (UPDATE) ALL")
		if i == 0 {
			first = c.lastTag()
		}
	}
	u := c.ok("SEARCH RETURN (UPDATE COUNT) ALL")
	tag := c.lastTag()
	if !slices.ContainsFunc(u, func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf(`* NO [NOUPDATE "%s"]`, tag)) }) ||
		!slices.Contains(u, fmt.Sprintf(`* ESEARCH (TAG "%s") COUNT 1`, tag)) {
		t.Fatalf("eleventh context: %q", u)
	}
	// A context evaluated whole at each change that reads message text is refused too.
	c.ok(fmt.Sprintf(`CANCELUPDATE "%s"`, first))
	u = c.ok("SEARCH RETURN (UPDATE) 1:* TEXT foo")
	if !slices.ContainsFunc(u, func(l string) bool { return strings.HasPrefix(l, "* NO [NOUPDATE") }) {
		t.Fatalf("costly context: %q", u)
	}
}

// TestContextPartial: RETURN (PARTIAL lo:hi) answers that range of the result positions,
// in sort order for SORT, what there is of it, or NIL (RFC 5267 §4.4).
func TestContextPartial(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for i := 1; i <= 5; i++ {
		e.deliver(t, "INBOX", testMessage(i, "m", strings.Repeat("x", 10*i)), mailbox.DeliverOptions{})
	}
	c := e.raw(t)
	c.ok("SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"SEARCH RETURN (PARTIAL 2:3) ALL", "PARTIAL (2:3 2:3)"},
		{"SEARCH RETURN (PARTIAL 3:2 COUNT) ALL", "PARTIAL (2:3 2:3) COUNT 5"},
		{"UID SEARCH RETURN (PARTIAL 4:10) ALL", "UID PARTIAL (4:10 4:5)"},
		{"SEARCH RETURN (PARTIAL 10:20) ALL", "PARTIAL (10:20 NIL)"},
		{"SEARCH RETURN (PARTIAL 1:1 MIN MAX) 2:5", "MIN 2 MAX 5 PARTIAL (1:1 2)"},
		{"SEARCH RETURN (CONTEXT) ALL", "ALL 1:5"},
		{"SORT RETURN (PARTIAL 1:2) (REVERSE SIZE) UTF-8 ALL", "PARTIAL (1:2 5,4)"},
		{"SORT RETURN (PARTIAL 2:4 COUNT) (REVERSE SIZE) UTF-8 ALL", "PARTIAL (2:4 4,3,2) COUNT 5"},
		{"UID SORT RETURN (PARTIAL 5:9) (SIZE) UTF-8 ALL", "UID PARTIAL (5:9 5)"},
	} {
		u := c.ok(tc.cmd)
		if want := fmt.Sprintf(`* ESEARCH (TAG "%s") %s`, c.lastTag(), tc.want); !slices.Equal(u, []string{want}) {
			t.Errorf("%s: %q, want %q", tc.cmd, u, want)
		}
	}
	for _, cmd := range []string{
		"SEARCH RETURN (PARTIAL 1:2 ALL) ALL", "SEARCH RETURN (ALL PARTIAL 1:2) ALL",
		"SEARCH RETURN (PARTIAL 0:2) ALL", "SEARCH RETURN (PARTIAL 1:*) ALL", "SEARCH RETURN (PARTIAL -1:-2) ALL",
		"SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL", "SEARCH RETURN (PARTIAL) ALL", "SEARCH RETURN (PARTIAL 5) ALL",
		"SORT RETURN (PARTIAL 1:2 ALL) (SIZE) UTF-8 ALL",
	} {
		if _, st := c.do(cmd); !strings.HasPrefix(st, "BAD") {
			t.Errorf("%s: %s, want BAD", cmd, st)
		}
	}
}

// TestContextSortUpdate: a SORT context reports positions in sort order (RFC 5267 §4.3.3).
func TestContextSortUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for i := 1; i <= 4; i++ {
		e.deliver(t, "INBOX", testMessage(i, "m", strings.Repeat("x", 10*i)), mailbox.DeliverOptions{})
	}
	c := e.raw(t)
	c.ok("SELECT INBOX")
	u := c.ok("UID SORT RETURN (UPDATE ALL) (REVERSE SIZE) UTF-8 UNSEEN")
	tag := c.lastTag()
	result := esearchAll(t, u, tag)
	if !slices.Equal(result, []uint32{4, 3, 2, 1}) {
		t.Fatalf("initial: %q", u)
	}
	fresh := func() []uint32 {
		u := c.ok("UID SORT RETURN (ALL) (REVERSE SIZE) UTF-8 UNSEEN")
		return esearchAll(t, u, c.lastTag())
	}

	lines := c.ok(`STORE 3 +FLAGS (\Seen)`)
	if !slices.Contains(lines, fmt.Sprintf(`* ESEARCH (TAG "%s") UID REMOVEFROM (2 3)`, tag)) {
		t.Fatalf("STORE: %q", lines)
	}
	result = applyUpdates(t, result, lines, tag, false)
	e.deliver(t, "INBOX", testMessage(5, "m", strings.Repeat("x", 25)), mailbox.DeliverOptions{}) // between 2 and 3 in size
	e.deliver(t, "INBOX", testMessage(6, "m", strings.Repeat("x", 99)), mailbox.DeliverOptions{}) // the largest
	lines = noopUntil(t, c, func(l []string) bool { return slices.Contains(l, "* 6 EXISTS") })    // ADDTO follows in the same poll
	result = applyUpdates(t, result, lines, tag, false)
	if want := fresh(); !slices.Equal(result, want) {
		t.Fatalf("after deliveries: updated %v, fresh %v (lines %q)", result, want, lines)
	}
	lines = c.ok(`STORE 1:* -FLAGS (\Seen)`) // 3 comes back, at its place
	result = applyUpdates(t, result, lines, tag, false)
	if want := fresh(); !slices.Equal(result, want) || !slices.Equal(want, []uint32{6, 4, 3, 5, 2, 1}) {
		t.Fatalf("after STORE: updated %v, fresh %v (lines %q)", result, want, lines)
	}
}
