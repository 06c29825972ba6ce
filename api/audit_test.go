package api

import (
	"strings"
	"testing"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/mailbox"
)

// TestAuditEndpoint: admin actions over the API are journaled with who did them; a "*" admin
// reads the whole export (it verifies), a mailbox-scoped admin its mailboxes' records only,
// and naming a mailbox it does not administer is 403.
func TestAuditEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.addKey("staradmin", mailbox.APIKey{Mailboxes: []string{"*"}, Scopes: []string{"admin"}})
	e.addKey("ownadmin", mailbox.APIKey{Mailboxes: []string{ownA}, Scopes: []string{"admin"}})
	e.send(otpBody())
	if r := e.do("POST", "/v1/admin/keys", "staradmin", map[string]any{"mailbox": ownA, "scopes": []string{"read"}}); r.status != 201 {
		t.Fatalf("create key: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/admin/mailboxes", "staradmin", map[string]any{"address": "fresh@example.com"}); r.status != 201 {
		t.Fatalf("add mailbox: %d %s", r.status, r.body)
	}
	all := auditLines(t, e, "staradmin", "/v1/audit?limit=2")
	rep, err := audit.Verify(strings.NewReader(strings.Join(all, "\n")), audit.VerifyOptions{Key: e.audit.PublicKey()})
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, strings.Join(all, "\n"))
	}
	if rep.Records != 3 || rep.Checkpoints != 1 {
		t.Fatalf("report %+v", rep)
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{`"kind":"send","actor":"api:`, `"kind":"key.create","actor":"api:`, `"kind":"mailbox.add"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("export lacks %s:\n%s", want, joined)
		}
	}
	own := auditLines(t, e, "ownadmin", "/v1/audit")
	if len(own) != 2 {
		t.Fatalf("scoped view: %q", own)
	}
	for _, l := range own {
		if !strings.Contains(l, `"mailbox":"`+ownA+`"`) {
			t.Errorf("scoped view holds %s", l)
		}
	}
	if r := e.do("GET", "/v1/audit?mailbox=fresh@example.com", "ownadmin", nil); r.status != 403 {
		t.Fatalf("another mailbox: %d", r.status)
	}
	if r := e.do("GET", "/v1/audit?since=yesterday", "staradmin", nil); r.status != 400 {
		t.Fatalf("bad since: %d", r.status)
	}
}

func auditLines(t *testing.T, e *testEnv, key, path string) []string {
	t.Helper()
	var lines []string
	for range 100 {
		r := e.do("GET", path, key, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var page wire.AuditPage
		r.json(t, &page)
		lines = append(lines, page.Lines...)
		if page.NextCursor == "" {
			return lines
		}
		base, _, _ := strings.Cut(path, "?")
		path = base + "?limit=2&cursor=" + page.NextCursor
	}
	t.Fatal("no last page")
	return nil
}
