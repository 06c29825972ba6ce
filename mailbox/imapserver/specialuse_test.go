package imapserver

import (
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestCreateSpecialUse: CREATE-SPECIAL-USE (RFC 6154 §3) is advertised; CREATE … USE
// gives the folder its attribute, which LIST (SPECIAL-USE) then shows; a virtual, unknown,
// taken or doubled use is NO [USEATTR] and creates nothing, its parents included.
func TestCreateSpecialUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.login(t, nil)
	caps, err := c.Capability().Wait()
	must(t, err)
	if !caps.Has(imap.CapCreateSpecialUse) {
		t.Fatalf("CAPABILITY lacks CREATE-SPECIAL-USE: %v", caps)
	}
	// The default Archive holds \Archive until it is deleted.
	archive := &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrArchive}}
	if err := c.Create("Old", archive).Wait(); imapCode(err) != codeUseAttr {
		t.Fatalf("CREATE Old (USE (\\Archive)) beside Archive: %v, want NO [USEATTR]", err)
	}
	must(t, c.Delete("Archive").Wait())
	must(t, c.Create("Years/Old", archive).Wait())
	for _, tc := range []struct {
		name string
		uses []imap.MailboxAttr
	}{
		{"virtual", []imap.MailboxAttr{imap.MailboxAttrAll}},
		{"flagged", []imap.MailboxAttr{imap.MailboxAttrFlagged}},
		{"taken", []imap.MailboxAttr{imap.MailboxAttrSent}},
		{"unknown", []imap.MailboxAttr{`\Important`}},
		{"two", []imap.MailboxAttr{imap.MailboxAttrArchive, imap.MailboxAttrJunk}},
	} {
		err := c.Create("New/"+tc.name, &imap.CreateOptions{SpecialUse: tc.uses}).Wait()
		if imapCode(err) != codeUseAttr {
			t.Errorf("CREATE %s: %v, want NO [USEATTR]", tc.name, err)
		}
	}
	list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	must(t, err)
	attrs := map[string][]imap.MailboxAttr{}
	for _, d := range list {
		attrs[d.Mailbox] = d.Attrs
	}
	if !slices.Contains(attrs["Years/Old"], imap.MailboxAttrArchive) {
		t.Errorf("LIST RETURN (SPECIAL-USE): Years/Old attrs %v lack \\Archive", attrs["Years/Old"])
	}
	if _, ok := attrs["Years"]; !ok {
		t.Errorf("parent Years not created: %v", attrs)
	}
	for name := range attrs {
		if name == "New" || len(name) > 4 && name[:4] == "New/" {
			t.Errorf("refused CREATE left %s behind", name)
		}
	}
	only, err := c.List("", "*", &imap.ListOptions{SelectSpecialUse: true}).Collect()
	must(t, err)
	if len(only) != 5 || !slices.ContainsFunc(only, func(d *imap.ListData) bool { return d.Mailbox == "Years/Old" }) {
		t.Errorf("LIST (SPECIAL-USE) = %d folders, want 5 with Years/Old", len(only))
	}
}
