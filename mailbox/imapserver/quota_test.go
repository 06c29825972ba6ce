package imapserver

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"multimail.dev/multimail/mailbox"
)

// TestQuota drives QUOTA with the go-imap client: the capability, GETQUOTAROOT and GETQUOTA
// (STORAGE in KiB, usage rounded up), SETQUOTA NO [CANNOT], APPEND and COPY over the quota
// NO [OVERQUOTA] with nothing stored, and EXPUNGE freeing room.
func TestQuota(t *testing.T) {
	t.Parallel()
	const quota = 10 * 1024
	e := newEnv(t, func(o *Options) { o.MailboxQuota = quota })
	c := e.login(t, nil)
	if !c.Caps().Has(imap.CapQuota) || !c.Caps().Has("QUOTA=RES-STORAGE") || c.Caps().Has("QUOTA=RES-MESSAGE") {
		t.Fatalf("caps %v: want QUOTA and QUOTA=RES-STORAGE only", c.Caps())
	}
	storage := func(what string) int64 {
		t.Helper()
		qs, err := c.GetQuotaRoot("Archive").Wait()
		must(t, err)
		if len(qs) != 1 || qs[0].Root != "" {
			t.Fatalf("%s: GETQUOTAROOT %+v", what, qs)
		}
		q, err := c.GetQuota("").Wait()
		must(t, err)
		r := q.Resources[imap.QuotaResourceStorage]
		if r != qs[0].Resources[imap.QuotaResourceStorage] || r.Limit != quota/1024 {
			t.Fatalf("%s: GETQUOTA %+v, GETQUOTAROOT %+v", what, q, qs)
		}
		return r.Usage
	}
	if u := storage("empty"); u != 0 {
		t.Fatalf("empty mailbox uses %d KiB", u)
	}
	big := testMessage(1, "Big", strings.Repeat("x", 6000))
	e.deliver(t, "INBOX", big, mailbox.DeliverOptions{})
	if u := storage("one message"); u != int64(len(big)+1023)/1024 {
		t.Fatalf("usage %d KiB for %d bytes", u, len(big))
	}
	appendRaw := func() error {
		cmd := c.Append("INBOX", int64(len(big)), nil)
		if _, err := cmd.Write([]byte(big)); err != nil {
			return err
		}
		must(t, cmd.Close())
		_, err := cmd.Wait()
		return err
	}
	wantOverQuota := func(what string, err error) {
		t.Helper()
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeOverQuota {
			t.Fatalf("%s over quota: %v, want NO [OVERQUOTA]", what, err)
		}
	}
	wantOverQuota("APPEND", appendRaw())
	_, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	_, err = c.Copy(imap.SeqSetNum(1), "Archive").Wait()
	wantOverQuota("COPY", err)
	if l, err := e.store.List(context.Background(), testUser, "Archive"); err != nil || len(l) != 0 {
		t.Fatalf("Archive after a refused COPY: %d, %v", len(l), err)
	}
	err = c.SetQuota("", map[imap.QuotaResourceType]int64{imap.QuotaResourceStorage: 1 << 20}).Wait()
	if imapCode(err) != imap.ResponseCodeCannot {
		t.Fatalf("SETQUOTA: %v, want NO [CANNOT]", err)
	}
	if _, err := c.GetQuota("other").Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Fatalf("GETQUOTA of another root: %v", err)
	}
	must(t, c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close())
	must(t, c.Expunge().Close())
	if u := storage("after expunge"); u != 0 {
		t.Fatalf("usage %d KiB after expunge", u)
	}
	must(t, appendRaw())
}

// TestQuotaOff: without a quota nothing is advertised and the commands are unknown.
func TestQuotaOff(t *testing.T) {
	t.Parallel()
	c := newEnv(t, nil).login(t, nil)
	if c.Caps().Has(imap.CapQuota) {
		t.Fatal("QUOTA advertised without a quota")
	}
	if _, err := c.GetQuota("").Wait(); err == nil {
		t.Fatal("GETQUOTA answered without a quota")
	}
}
