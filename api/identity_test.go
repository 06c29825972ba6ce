package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"multimail.dev/multimail/identity"
)

// getKeySet fetches the well-known key set without credentials.
func getKeySet(t *testing.T, e *testEnv, query string) identity.KeySet {
	t.Helper()
	resp, err := http.Get(e.http.URL + WellKnownIdentityPath + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var ks identity.KeySet
	if resp.StatusCode != 200 || json.Unmarshal(body, &ks) != nil || ks.Version != 1 {
		t.Fatalf("%s: %d %s", WellKnownIdentityPath, resp.StatusCode, body)
	}
	return ks
}

// A new domain gets an identity key; rotation retires it (it stays in the set and in DNS),
// revocation empties it; the active key cannot be revoked.
func TestIdentityKeyLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if r := e.do("POST", "/v1/admin/domains", "admin", map[string]string{"name": "id.example"}); r.status != 201 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	ks := getKeySet(t, e, "?domain=id.example")
	if len(ks.Keys) != 1 || ks.Keys[0].Selector != "mmid1" || ks.Keys[0].Status != "active" || ks.Keys[0].Algorithm != "ed25519" || len(ks.Keys[0].PublicKey) != 44 {
		t.Fatalf("key set %+v", ks)
	}
	if r := e.do("POST", "/v1/admin/domains/id.example/identity/mmid1/revoke", "admin", nil); r.status != 409 {
		t.Fatalf("revoking the active key: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/admin/domains/id.example/identity/rotate", "admin", nil); r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	ks = getKeySet(t, e, "?domain=id.example")
	if len(ks.Keys) != 2 || ks.Keys[0].Status != "retired" || ks.Keys[0].PublicKey == "" || ks.Keys[1].Selector != "mmid2" || ks.Keys[1].Status != "active" {
		t.Fatalf("after rotation %+v", ks)
	}
	if r := e.do("POST", "/v1/admin/domains/id.example/identity/mmid1/revoke", "admin", nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/admin/domains/id.example/identity/mmid9/revoke", "admin", nil); r.status != 404 {
		t.Fatalf("revoke unknown: %d %s", r.status, r.body)
	}
	ks = getKeySet(t, e, "?domain=id.example")
	if ks.Keys[0].Status != "revoked" || ks.Keys[0].PublicKey != "" {
		t.Fatalf("after revocation %+v", ks)
	}
	r := e.do("GET", "/v1/admin/domains/id.example/dns", "admin", nil)
	for _, want := range []string{`mmid1._domainkey.id.example.\t3600\tIN\tTXT\t\"v=DKIM1; k=ed25519; p=\"`, `mmid2._domainkey.id.example.\t3600\tIN\tTXT\t\"v=DKIM1; k=ed25519; p=` + ks.Keys[1].PublicKey} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("dns lacks %s:\n%s", want, r.body)
		}
	}
	if all := getKeySet(t, e, ""); len(all.Keys) < 2 {
		t.Fatalf("unfiltered set %+v", all)
	}
	// Both changes are in the audit journal, with who made them.
	joined := strings.Join(auditLines(t, e, "admin", "/v1/audit"), "\n")
	for _, want := range []string{`"kind":"identity.rotate","actor":"api:`, `"kind":"identity.revoke","actor":"api:`, `"selector":"mmid1"`, `"selector":"mmid2"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit export lacks %s:\n%s", want, joined)
		}
	}
}
