package imapserver

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"multimail.dev/multimail/mailbox"
)

func TestLoginRefusedBeforeTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	conn, err := net.Dial("tcp", e.imapAddr)
	must(t, err)
	c := imapclient.New(conn, nil)
	defer c.Close()
	must(t, c.WaitGreeting())
	caps := c.Caps()
	if !caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.CapStartTLS) {
		t.Fatalf("caps before TLS = %v, want LOGINDISABLED and STARTTLS", caps)
	}
	err = c.Login(testUser, testPassword).Wait()
	if imapCode(err) != imap.ResponseCodePrivacyRequired {
		t.Fatalf("LOGIN before TLS: %v, want NO [PRIVACYREQUIRED]", err)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	// A key never grants more than it holds: one that can approve but not read and tag does
	// not open the mailbox over IMAP.
	approveOnly, approveHash := mailbox.NewAPIKeySecret()
	must(t, e.store.AddAPIKey(context.Background(), mailbox.APIKey{ID: "key_approver", Hash: approveHash,
		Mailboxes: []string{testUser}, Scopes: []string{mailbox.ScopeApprove}}))
	for _, tc := range []struct {
		name     string
		implicit bool
		secret   string
		plain    bool // AUTHENTICATE PLAIN instead of LOGIN
		wantCode imap.ResponseCode
	}{
		{name: "starttls/password", secret: testPassword},
		{name: "starttls/api-key", secret: e.apiKey},
		{name: "imaps/password", implicit: true, secret: testPassword},
		{name: "imaps/api-key", implicit: true, secret: e.apiKey},
		{name: "imaps/authenticate-plain", implicit: true, secret: e.apiKey, plain: true},
		{name: "starttls/authenticate-plain", secret: testPassword, plain: true},
		{name: "wrong-password", secret: "nope", wantCode: imap.ResponseCodeAuthenticationFailed},
		{name: "approve-only-key", secret: approveOnly, wantCode: imap.ResponseCodeAuthenticationFailed},
		{name: "wrong-key", implicit: true, secret: "mm_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", wantCode: imap.ResponseCodeAuthenticationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := e.connect(t, tc.implicit, nil)
			if c.Caps().Has(imap.CapLoginDisabled) {
				t.Fatal("LOGINDISABLED advertised over TLS")
			}
			var err error
			if tc.plain {
				err = c.Authenticate(sasl.NewPlainClient("", testUser, tc.secret))
			} else {
				err = c.Login(testUser, tc.secret).Wait()
			}
			if tc.wantCode != "" {
				if imapCode(err) != tc.wantCode {
					t.Fatalf("login: %v, want %s", err, tc.wantCode)
				}
				return
			}
			must(t, err)
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatalf("select after login: %v", err)
			}
		})
	}
}

func TestConnsPerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxConnsPerUser = 2 })
	c1 := e.login(t, nil)
	e.login(t, nil)
	c3 := e.connect(t, true, nil)
	if err := c3.Login(testUser, testPassword).Wait(); imapCode(err) != imap.ResponseCodeLimit {
		t.Fatalf("third login: %v, want NO [LIMIT]", err)
	}
	must(t, c1.Logout().Wait())
	waitFor(t, "a freed slot", func() bool {
		c := e.connect(t, true, nil)
		return c.Login(testUser, testPassword).Wait() == nil
	})
}

func TestListSpecialUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.login(t, nil)
	must(t, c.Create("Projects/2026", nil).Wait())
	list, err := c.List("", "*", nil).Collect()
	must(t, err)
	got := map[string][]imap.MailboxAttr{}
	for _, d := range list {
		got[d.Mailbox] = d.Attrs
		if d.Delim != '/' {
			t.Errorf("%s delimiter %q", d.Mailbox, d.Delim)
		}
	}
	for name, use := range map[string]imap.MailboxAttr{
		"INBOX": "", "Sent": imap.MailboxAttrSent, "Drafts": imap.MailboxAttrDrafts,
		"Archive": imap.MailboxAttrArchive, "Trash": imap.MailboxAttrTrash, "Junk": imap.MailboxAttrJunk,
		"Projects": "", "Projects/2026": "",
	} {
		attrs, ok := got[name]
		if !ok {
			t.Errorf("LIST lacks %s: %v", name, got)
			continue
		}
		if use != "" && !slices.Contains(attrs, use) {
			t.Errorf("%s attrs %v lack %s", name, attrs, use)
		}
	}
	if !slices.Contains(got["Projects"], imap.MailboxAttrHasChildren) {
		t.Errorf("Projects attrs %v lack \\HasChildren", got["Projects"])
	}
	// LIST-EXTENDED: select special-use only, return status.
	ext, err := c.List("", "*", &imap.ListOptions{SelectSpecialUse: true,
		ReturnStatus: &imap.StatusOptions{NumMessages: true, UIDValidity: true}}).Collect()
	must(t, err)
	if len(ext) != 5 {
		t.Fatalf("LIST (SPECIAL-USE) = %d folders, want 5", len(ext))
	}
	for _, d := range ext {
		if d.Status == nil || d.Status.NumMessages == nil || d.Status.UIDValidity == 0 {
			t.Errorf("%s: no STATUS in LIST RETURN (STATUS)", d.Mailbox)
		}
	}
	ns, err := c.Namespace().Wait()
	must(t, err)
	if len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("NAMESPACE = %+v", ns)
	}
}

func TestFolderCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.login(t, nil)
	for _, tc := range []struct {
		name string
		run  func() error
		code imap.ResponseCode
	}{
		{"create", func() error { return c.Create("Work", nil).Wait() }, ""},
		{"create-again", func() error { return c.Create("Work", nil).Wait() }, imap.ResponseCodeAlreadyExists},
		{"rename", func() error { return c.Rename("Work", "Jobs", nil).Wait() }, ""},
		{"rename-missing", func() error { return c.Rename("Work", "X", nil).Wait() }, imap.ResponseCodeNonExistent},
		{"unsubscribe", func() error { return c.Unsubscribe("Jobs").Wait() }, ""},
		{"subscribe", func() error { return c.Subscribe("Jobs").Wait() }, ""},
		{"delete", func() error { return c.Delete("Jobs").Wait() }, ""},
		{"delete-missing", func() error { return c.Delete("Jobs").Wait() }, imap.ResponseCodeNonExistent},
		{"delete-inbox", func() error { return c.Delete("INBOX").Wait() }, imap.ResponseCodeCannot},
		{"select-missing", func() error { _, err := c.Select("Nope", nil).Wait(); return err }, imap.ResponseCodeNonExistent},
	} {
		err := tc.run()
		if tc.code == "" && err != nil || tc.code != "" && imapCode(err) != tc.code {
			t.Errorf("%s: %v, want code %q", tc.name, err, tc.code)
		}
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, Size: true, NumDeleted: true}).Wait()
	must(t, err)
	if *st.NumMessages != 0 || st.UIDNext != 1 || *st.Size != 0 {
		t.Errorf("STATUS INBOX = %+v", st)
	}
}

func TestFetchByteForByte(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	raw := testMessage(1, "Hello there", "Line one.\r\nLine two, with   spaces  \r\n")
	date := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	em := e.deliver(t, "INBOX", raw, mailbox.DeliverOptions{InternalDate: date})
	c := e.login(t, nil)
	sel, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	if sel.NumMessages != 1 || !slices.Contains(sel.PermanentFlags, imap.FlagWildcard) {
		t.Fatalf("SELECT = %+v", sel)
	}
	peek := &imap.FetchItemBodySection{Peek: true}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, BodySection: []*imap.FetchItemBodySection{peek, header},
	}).Collect()
	must(t, err)
	m := msgs[0]
	if got := m.FindBodySection(peek); !bytes.Equal(got, []byte(raw)) {
		t.Fatalf("BODY.PEEK[] = %q\nwant %q", got, raw)
	}
	if got := string(m.FindBodySection(header)); !strings.HasSuffix(got, "\r\n\r\n") || !strings.HasPrefix(raw, got) {
		t.Errorf("BODY.PEEK[HEADER] = %q", got)
	}
	if m.UID != imap.UID(em.UID) || m.RFC822Size != int64(len(raw)) || !m.InternalDate.Equal(date) || len(m.Flags) != 0 {
		t.Errorf("FETCH = uid %d size %d date %v flags %v", m.UID, m.RFC822Size, m.InternalDate, m.Flags)
	}
	if m.Envelope == nil || m.Envelope.Subject != "Hello there" || m.Envelope.MessageID != "m1@example.org" || m.Envelope.From[0].Host != "example.org" {
		t.Errorf("ENVELOPE = %+v", m.Envelope)
	}
	if bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.Type != "text" || bs.Subtype != "plain" {
		t.Errorf("BODYSTRUCTURE = %#v", m.BodyStructure)
	}
	// Other sections: header fields, text, a partial, a MIME part.
	fields := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
	part := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 6}}
	msgs, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{fields, text, part, partial}}).Collect()
	must(t, err)
	_, wantText, _ := strings.Cut(raw, "\r\n\r\n")
	for _, tc := range []struct {
		name string
		bs   *imap.FetchItemBodySection
		want string
	}{
		{"HEADER.FIELDS (Subject)", fields, "Subject: Hello there\r\n\r\n"},
		{"TEXT", text, wantText},
		{"1", part, wantText},
		{"[]<6.6>", partial, raw[6:12]},
	} {
		if got := string(msgs[0].FindBodySection(tc.bs)); got != tc.want {
			t.Errorf("BODY.PEEK[%s] = %q, want %q", tc.name, got, tc.want)
		}
	}
	// BODY[] without PEEK sets \Seen, in the store too.
	body := &imap.FetchItemBodySection{}
	msgs, err = c.Fetch(imap.UIDSetNum(imap.UID(em.UID)), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}}).Collect()
	must(t, err)
	if !slices.Contains(msgs[0].Flags, imap.FlagSeen) || !bytes.Equal(msgs[0].FindBodySection(body), []byte(raw)) {
		t.Errorf("FETCH BODY[]: flags %v", msgs[0].Flags)
	}
	got, err := e.store.Email(context.Background(), em.ID)
	must(t, err)
	if !got.HasFlag(mailbox.FlagSeen) {
		t.Errorf("store flags after BODY[] = %v", got.Flags)
	}
}

func TestKeywordsAreTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	em := e.deliver(t, "INBOX", testMessage(1, "a", "b"), mailbox.DeliverOptions{})
	c := e.login(t, nil)
	_, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	// IMAP keyword -> store keyword (= API tag).
	_, err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"urgent", imap.FlagFlagged}}, nil).Collect()
	must(t, err)
	got, err := e.store.Email(ctx, em.ID)
	must(t, err)
	if !slices.Contains(got.Keywords, "urgent") || !got.HasFlag(mailbox.FlagFlagged) {
		t.Fatalf("store after STORE +FLAGS = flags %v keywords %v", got.Flags, got.Keywords)
	}
	// The new keyword is announced in FLAGS.
	if f := c.Mailbox().Flags; !slices.Contains(f, "urgent") {
		t.Errorf("FLAGS after STORE = %v, want urgent in it", f)
	}
	// Store keyword (API tag) -> IMAP keyword.
	_, err = e.store.SetFlags(ctx, em.ID, []string{"invoice"}, []string{"urgent"})
	must(t, err)
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	must(t, err)
	if f := msgs[0].Flags; !slices.Contains(f, "invoice") || slices.Contains(f, "urgent") {
		t.Fatalf("FETCH FLAGS = %v, want invoice without urgent", f)
	}
	// STORE FLAGS replaces; an invalid keyword is refused.
	_, err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{"todo"}}, nil).Collect()
	must(t, err)
	got, err = e.store.Email(ctx, em.ID)
	must(t, err)
	if len(got.Flags) != 0 || !slices.Equal(got.Keywords, []string{"todo"}) {
		t.Fatalf("store after STORE FLAGS = %v %v", got.Flags, got.Keywords)
	}
	_, err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{`\Bogus`}}, nil).Collect()
	if err == nil {
		t.Fatal("STORE of an unknown system flag succeeded")
	}
}

func TestIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	first := e.deliver(t, "INBOX", testMessage(1, "a", "b"), mailbox.DeliverOptions{})
	u := &updates{}
	c := e.login(t, u)
	_, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	idle, err := c.Idle()
	must(t, err)
	go e.deliver(t, "INBOX", testMessage(2, "c", "d"), mailbox.DeliverOptions{})
	u.wait(t, "EXISTS 2", func(u *updates) bool { return slices.Contains(u.exists, 2) })
	_, err = e.store.SetFlags(ctx, first.ID, []string{"done"}, nil)
	must(t, err)
	u.wait(t, "FETCH FLAGS (done)", func(u *updates) bool {
		for _, f := range u.fetch {
			if f.SeqNum == 1 && slices.Contains(f.Flags, "done") {
				return true
			}
		}
		return false
	})
	_, err = e.store.SetFlags(ctx, first.ID, []string{mailbox.FlagDeleted}, nil)
	must(t, err)
	_, err = e.store.Expunge(ctx, testUser, "INBOX", nil)
	must(t, err)
	u.wait(t, "EXPUNGE 1", func(u *updates) bool { return slices.Contains(u.expunge, 1) })
	must(t, idle.Close())
	must(t, idle.Wait())
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect()
	must(t, err)
	if len(msgs) != 1 || msgs[0].UID != 2 {
		t.Fatalf("after IDLE, message 1 = %+v, want UID 2", msgs)
	}
}

func TestOtherSessionChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for i := 1; i <= 3; i++ {
		e.deliver(t, "INBOX", testMessage(i, "s", "b"), mailbox.DeliverOptions{})
	}
	u := &updates{}
	watcher := e.login(t, u)
	_, err := watcher.Select("INBOX", nil).Wait()
	must(t, err)
	actor := e.login(t, nil)
	_, err = actor.Select("INBOX", nil).Wait()
	must(t, err)
	_, err = actor.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect()
	must(t, err)
	_, err = actor.Expunge().Collect()
	must(t, err)
	// FETCH may not carry EXPUNGE; NOOP does.
	waitFor(t, "EXPUNGE 2 on NOOP", func() bool {
		must(t, watcher.Noop().Wait())
		u.mu.Lock()
		defer u.mu.Unlock()
		return slices.Contains(u.expunge, 2)
	})
	msgs, err := watcher.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{UID: true}).Collect()
	must(t, err)
	if len(msgs) != 1 || msgs[0].UID != 3 {
		t.Fatalf("message 2 after expunge = %+v, want UID 3", msgs)
	}
}

func TestCopyMoveExpunge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		e.deliver(t, "INBOX", testMessage(i, "s", "b"), mailbox.DeliverOptions{})
	}
	c := e.login(t, nil)
	_, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	cp, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
	must(t, err)
	if cp.UIDValidity == 0 || cp.SourceUIDs.String() != "1:2" || cp.DestUIDs.String() != "1:2" {
		t.Fatalf("COPYUID = %+v", cp)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nope").Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
		t.Fatalf("COPY to a missing folder: %v, want TRYCREATE", err)
	}
	mv, err := c.Move(imap.UIDSetNum(3), "Trash").Wait()
	must(t, err)
	if mv.SourceUIDs.String() != "3" || mv.DestUIDs.String() != "1" {
		t.Fatalf("MOVE COPYUID = %+v", mv)
	}
	if c.Mailbox().NumMessages != 3 {
		t.Fatalf("after MOVE the client counts %d messages, want 3", c.Mailbox().NumMessages)
	}
	_, err = c.Store(imap.SeqSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect()
	must(t, err)
	gone, err := c.UIDExpunge(imap.UIDSetNum(4)).Collect()
	must(t, err)
	if !slices.Equal(gone, []uint32{3}) {
		t.Fatalf("UID EXPUNGE 4 = %v, want [3]", gone)
	}
	gone, err = c.Expunge().Collect()
	must(t, err)
	if !slices.Equal(gone, []uint32{1}) {
		t.Fatalf("EXPUNGE = %v, want [1]", gone)
	}
	left, err := e.store.List(ctx, testUser, "INBOX")
	must(t, err)
	if len(left) != 1 || left[0].UID != 2 {
		t.Fatalf("INBOX left = %+v", left)
	}
	for folder, n := range map[string]int{"Archive": 2, "Trash": 1} {
		l, err := e.store.List(ctx, testUser, folder)
		must(t, err)
		if len(l) != n {
			t.Errorf("%s holds %d, want %d", folder, len(l), n)
		}
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	e.deliver(t, "INBOX", testMessage(1, "Invoice 42", "Please pay."), mailbox.DeliverOptions{Keywords: []string{"invoice"}})
	e.deliver(t, "INBOX", testMessage(2, "Lunch", "Pizza at noon."), mailbox.DeliverOptions{Flags: []string{mailbox.FlagSeen}})
	third := e.deliver(t, "INBOX", testMessage(3, "Re: Invoice", "Paid, thanks."), mailbox.DeliverOptions{})
	_, err := e.store.SetFlags(ctx, third.ID, []string{mailbox.FlagFlagged, "invoice"}, nil)
	must(t, err)
	c := e.login(t, nil)
	_, err = c.Select("INBOX", nil).Wait()
	must(t, err)
	for _, tc := range []struct {
		name string
		c    imap.SearchCriteria
		want []uint32
	}{
		{"all", imap.SearchCriteria{}, []uint32{1, 2, 3}},
		{"seen", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, []uint32{2}},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{1, 3}},
		{"flagged", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, []uint32{3}},
		{"keyword", imap.SearchCriteria{Flag: []imap.Flag{"INVOICE"}}, []uint32{1, 3}},
		{"unkeyword", imap.SearchCriteria{NotFlag: []imap.Flag{"invoice"}}, []uint32{2}},
		{"from", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "SENDER2@"}}}, []uint32{2}},
		{"subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "invoice"}}}, []uint32{1, 3}},
		{"header", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Custom", Value: "custom-3"}}}, []uint32{3}},
		{"body", imap.SearchCriteria{Body: []string{"pizza"}}, []uint32{2}},
		{"text-in-header", imap.SearchCriteria{Text: []string{"m3@example"}}, []uint32{3}},
		{"text-in-body", imap.SearchCriteria{Text: []string{"PAID"}}, []uint32{3}},
		{"larger", imap.SearchCriteria{Larger: 1}, []uint32{1, 2, 3}},
		{"since-future", imap.SearchCriteria{Since: time.Now().Add(48 * time.Hour)}, nil},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{"pizza"}}, {Flag: []imap.Flag{imap.FlagFlagged}}}}}, []uint32{2, 3}},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{"invoice"}}}}, []uint32{2}},
		{"uid", imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(2, 3)}}, []uint32{2, 3}},
	} {
		data, err := c.Search(&tc.c, nil).Wait()
		must(t, err)
		if got := data.AllSeqNums(); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %s = %v, want %v", tc.name, got, tc.want)
		}
		udata, err := c.UIDSearch(&tc.c, nil).Wait()
		must(t, err)
		if got := udata.AllUIDs(); len(got) != len(tc.want) {
			t.Errorf("UID SEARCH %s = %v, want %d UIDs", tc.name, got, len(tc.want))
		}
	}
	// ESEARCH (RFC 4731).
	data, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{"invoice"}},
		&imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
	must(t, err)
	if data.Min != 1 || data.Max != 3 || data.Count != 2 {
		t.Errorf("ESEARCH = min %d max %d count %d", data.Min, data.Max, data.Count)
	}
}

func TestAppend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxLiteralBytes = 4096 })
	c := e.login(t, nil)
	raw := testMessage(9, "Draft", "Not yet.")
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cmd := c.Append("Drafts", int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft, "wip"}, Time: date})
	_, err := cmd.Write([]byte(raw))
	must(t, err)
	must(t, cmd.Close())
	data, err := cmd.Wait()
	must(t, err)
	if data.UID != 1 || data.UIDValidity == 0 {
		t.Fatalf("APPENDUID = %+v", data)
	}
	l, err := e.store.List(context.Background(), testUser, "Drafts")
	must(t, err)
	if len(l) != 1 || !l[0].HasFlag(mailbox.FlagDraft) || !l[0].HasFlag("wip") || !l[0].InternalDate.Equal(date) {
		t.Fatalf("Drafts = %+v", l)
	}
	got, err := e.store.Raw(context.Background(), l[0].ID)
	must(t, err)
	if string(got) != raw {
		t.Fatalf("appended raw = %q", got)
	}
	cmd = c.Append("Nope", 1, nil)
	cmd.Write([]byte("x"))
	cmd.Close()
	if _, err := cmd.Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
		t.Fatalf("APPEND to a missing folder: %v, want TRYCREATE", err)
	}
	big := strings.Repeat("x", 5000)
	cmd = c.Append("Drafts", int64(len(big)), nil)
	cmd.Write([]byte(big))
	cmd.Close()
	if _, err := cmd.Wait(); imapCode(err) != imap.ResponseCodeTooBig {
		t.Fatalf("APPEND over the limit: %v, want TOOBIG", err)
	}
}

func TestPendingInvisible(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	held := e.deliver(t, "INBOX", testMessage(1, "held", "b"), mailbox.DeliverOptions{Pending: true})
	u := &updates{}
	c := e.login(t, u)
	sel, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	if sel.NumMessages != 0 {
		t.Fatalf("SELECT shows %d messages, want 0 while pending", sel.NumMessages)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	must(t, err)
	if *st.NumMessages != 0 {
		t.Fatalf("STATUS shows %d", *st.NumMessages)
	}
	data, err := c.Search(&imap.SearchCriteria{}, nil).Wait()
	must(t, err)
	if len(data.AllSeqNums()) != 0 {
		t.Fatalf("SEARCH ALL finds %v", data.AllSeqNums())
	}
	must(t, e.store.Release(context.Background(), held.ID))
	waitFor(t, "EXISTS 1 after release", func() bool {
		must(t, c.Noop().Wait())
		return c.Mailbox().NumMessages == 1
	})
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	em := e.deliver(t, "INBOX", testMessage(1, "s", "b"), mailbox.DeliverOptions{Flags: []string{mailbox.FlagDeleted}})
	c := e.login(t, nil)
	_, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	must(t, err)
	body := &imap.FetchItemBodySection{}
	_, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}}).Collect()
	must(t, err)
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"x"}}, nil).Collect(); err == nil {
		t.Error("STORE in EXAMINE succeeded")
	}
	must(t, c.UnselectAndExpunge().Wait()) // CLOSE
	got, err := e.store.Email(context.Background(), em.ID)
	must(t, err)
	if got.HasFlag(mailbox.FlagSeen) {
		t.Error("BODY[] in EXAMINE set \\Seen")
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.login(t, nil)
	_, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	idle, err := c.Idle()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, e.srv.Shutdown(ctx))
	must(t, e.srv.Shutdown(ctx)) // idempotent: one Server may back both listeners
	select {
	case <-c.Closed():
	case <-ctx.Done():
		t.Fatal("client still connected after Shutdown")
	}
	idle.Close()
	if _, err := net.DialTimeout("tcp", e.imapAddr, time.Second); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
}

// TestPebbleStore runs the main path on the production store: delivery,
// FETCH BODY[] byte for byte, IDLE seeing a new message and a tag change.
func TestPebbleStore(t *testing.T) {
	t.Parallel()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietPebble{}})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	store, err := mailbox.OpenPebble(db, mailbox.Options{})
	must(t, err)
	t.Cleanup(func() { store.Close() })
	e := newEnvStore(t, store, nil)
	raw := testMessage(1, "On Pebble", "Durable.")
	first := e.deliver(t, "INBOX", raw, mailbox.DeliverOptions{})
	u := &updates{}
	c := e.dial(t, true, e.apiKey, u)
	_, err = c.Select("INBOX", nil).Wait()
	must(t, err)
	body := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}}).Collect()
	must(t, err)
	if got := msgs[0].FindBodySection(body); string(got) != raw {
		t.Fatalf("BODY.PEEK[] = %q", got)
	}
	idle, err := c.Idle()
	must(t, err)
	go e.deliver(t, "INBOX", testMessage(2, "second", "b"), mailbox.DeliverOptions{})
	u.wait(t, "EXISTS 2", func(u *updates) bool { return slices.Contains(u.exists, 2) })
	_, err = store.SetFlags(context.Background(), first.ID, []string{"urgent"}, nil)
	must(t, err)
	u.wait(t, "FETCH FLAGS (urgent)", func(u *updates) bool {
		for _, f := range u.fetch {
			if slices.Contains(f.Flags, "urgent") {
				return true
			}
		}
		return false
	})
	must(t, idle.Close())
	must(t, idle.Wait())
}

// TestWatchOverflowResync: a session whose watch overflows (a tiny
// WatchBuffer) resynchronises from a List and ends up with the store's view.
func TestWatchOverflowResync(t *testing.T) {
	t.Parallel()
	store := mailbox.NewMemoryWith(mailbox.Options{WatchBuffer: 2})
	e := newEnvStore(t, store, nil)
	ctx := context.Background()
	first := e.deliver(t, "INBOX", testMessage(0, "first", "b"), mailbox.DeliverOptions{})
	u := &updates{}
	c := e.login(t, u)
	_, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	for i := 1; i <= 10; i++ {
		e.deliver(t, "INBOX", testMessage(i, "more", "b"), mailbox.DeliverOptions{})
	}
	_, err = store.SetFlags(ctx, first.ID, []string{mailbox.FlagDeleted}, nil)
	must(t, err)
	_, err = store.Expunge(ctx, testUser, "INBOX", nil)
	must(t, err)
	waitFor(t, "10 messages after resync", func() bool {
		must(t, c.Noop().Wait())
		return c.Mailbox().NumMessages == 10
	})
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
	must(t, err)
	if len(msgs) != 10 || msgs[0].UID != 2 || msgs[9].UID != 11 {
		t.Fatalf("after resync FETCH 1:* = %d messages, first UID %d", len(msgs), msgs[0].UID)
	}
}

// TestOwnWritesAnnounced: APPEND and COPY into the selected folder are
// announced (EXISTS) before the command completes.
func TestOwnWritesAnnounced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(t, "INBOX", testMessage(1, "s", "b"), mailbox.DeliverOptions{})
	c := e.login(t, nil)
	_, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	raw := testMessage(2, "appended", "b")
	cmd := c.Append("inbox", int64(len(raw)), nil)
	_, err = cmd.Write([]byte(raw))
	must(t, err)
	must(t, cmd.Close())
	_, err = cmd.Wait()
	must(t, err)
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Fatalf("after APPEND to the selected folder the client counts %d, want 2", n)
	}
	_, err = c.Copy(imap.SeqSetNum(1, 2), "INBOX").Wait()
	must(t, err)
	if n := c.Mailbox().NumMessages; n != 4 {
		t.Fatalf("after COPY into the selected folder the client counts %d, want 4", n)
	}
}

func TestNoTLS(t *testing.T) {
	t.Parallel()
	srv := New(Options{Store: mailbox.NewMemory()})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	if err := srv.ServeIMAPS(l); err != ErrNoTLS {
		t.Fatalf("ServeIMAPS without TLS = %v, want ErrNoTLS", err)
	}
	must(t, srv.Shutdown(context.Background()))
}

// TestAppendRefusedWhenAdmitSaysNo: below the node's free-space floor APPEND answers
// NO [UNAVAILABLE] and stores nothing; reading and COPY go on; it resumes when Admit does.
func TestAppendRefusedWhenAdmitSaysNo(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	refuse.Store(true)
	e := newEnv(t, func(o *Options) {
		o.Admit = func() error {
			if refuse.Load() {
				return errors.New("disk below the floor")
			}
			return nil
		}
	})
	c := e.login(t, nil)
	raw := testMessage(1, "Draft", "Not yet.")
	appendRaw := func() error {
		cmd := c.Append("Drafts", int64(len(raw)), nil)
		if _, err := cmd.Write([]byte(raw)); err != nil {
			return err
		}
		must(t, cmd.Close())
		_, err := cmd.Wait()
		return err
	}
	err := appendRaw()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeUnavailable {
		t.Fatalf("APPEND below the floor: %v, want NO [UNAVAILABLE]", err)
	}
	if l, err := e.store.List(context.Background(), testUser, "Drafts"); err != nil || len(l) != 0 {
		t.Fatalf("Drafts after a refused APPEND = %d messages, %v", len(l), err)
	}
	// The connection is still usable: the literal was consumed.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT after a refused APPEND: %v", err)
	}
	refuse.Store(false)
	if err := appendRaw(); err != nil {
		t.Fatalf("APPEND once Admit accepts: %v", err)
	}
}
