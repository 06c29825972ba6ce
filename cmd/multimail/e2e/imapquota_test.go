package e2e

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"testing"

	"multimail.dev/multimail/internal/dovecottest"
)

// TestIMAPQuotaDovecot runs one QUOTA session (RFC 9208) against Dovecot with its quota
// plugins (count backend over CRLF sizes, one root "") and multimail with
// `[limits] mailbox_quota`, both at 20 KiB, and compares the normalised answers: the quota
// root of every folder, STORAGE usage as messages arrive and leave, an APPEND that does not
// fit (NO [OVERQUOTA]) and SETQUOTA, which both refuse.
func TestIMAPQuotaDovecot(t *testing.T) {
	t.Parallel()
	const quotaKiB = 20
	dv := dovecottest.StartWith(t, dovecottest.Options{QuotaKiB: quotaKiB})
	n := Start(t, Options{Config: fmt.Sprintf("\n[limits]\nmailbox_quota = %d\n", quotaKiB*1024)})
	mm := DialRawIMAP(t, Addr(n.Ports.IMAPS), &tls.Config{InsecureSkipVerify: true})
	ref := DialRawIMAP(t, dv.Addr, nil)
	for _, c := range []struct {
		conn *RawIMAP
		pass string
	}{{mm, Password}, {ref, dovecottest.Password}} {
		if r := c.conn.Do(fmt.Sprintf(`LOGIN %s %s`, Sender, c.pass)); !strings.Contains(r[len(r)-1], "OK") {
			t.Fatalf("LOGIN: %q", r)
		}
	}
	mmCaps, refCaps := capSet(mm.Do("CAPABILITY")), capSet(ref.Do("CAPABILITY"))
	// Dovecot 2.3 implements RFC 2087 (QUOTA only); RFC 9208 adds QUOTA=RES-STORAGE.
	if !slices.Contains(refCaps, "QUOTA") {
		t.Errorf("Dovecot does not advertise QUOTA: %v", refCaps)
	}
	for _, c := range []string{"QUOTA", "QUOTA=RES-STORAGE"} {
		if !slices.Contains(mmCaps, c) {
			t.Errorf("multimail does not advertise %s: %v", c, mmCaps)
		}
	}
	msg := func(size int) string { // a message of exactly size bytes
		head := "From: a@example.com\r\nTo: b@example.com\r\nSubject: quota\r\n\r\n"
		body := strings.Repeat(strings.Repeat("x", 78)+"\r\n", size/80+1)
		return head + body[:size-len(head)-2] + "\r\n"
	}
	session := []string{
		`GETQUOTAROOT INBOX`,
		`GETQUOTA ""`,
		appendCmd(`\Seen`, msg(3000)),
		appendCmd(``, msg(5000)),
		`GETQUOTAROOT INBOX`,
		`GETQUOTAROOT Sent`,
		`GETQUOTA ""`,
		`GETQUOTA "nosuch"`,
		appendCmd(``, msg(14000)), // 8,000 + 14,000 > 20,480
		`GETQUOTA ""`,
		appendCmd(``, msg(12000)), // 20,000: fits
		`GETQUOTA ""`,
		`SETQUOTA "" (STORAGE 100)`,
		`SELECT INBOX`,
		`STORE 1:2 +FLAGS.SILENT (\Deleted)`,
		`EXPUNGE`,
		`GETQUOTA ""`,
	}
	failed := diffIMAP(t, mm, ref, session, nil)
	if len(failed) > 0 {
		t.Errorf("%d QUOTA commands answered differently from Dovecot:\n%s", len(failed), strings.Join(failed, "\n"))
	}
}
