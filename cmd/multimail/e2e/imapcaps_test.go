package e2e

import (
	"crypto/tls"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestIMAPCapabilitiesDocumented: the capability list docs/imap.md gives (after login, without
// a quota) is exactly what the server advertises, so the documentation cannot drift.
func TestIMAPCapabilitiesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../docs/imap.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)Advertised after login.*?`(IMAP4rev1 [^`]+)`").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/imap.md: no capability list after \"Advertised after login\"")
	}
	documented := strings.Fields(string(m[1]))
	slices.Sort(documented)

	n := Start(t, Options{})
	c := DialRawIMAP(t, Addr(n.Ports.IMAPS), &tls.Config{InsecureSkipVerify: true})
	if r := c.Do(fmt.Sprintf(`LOGIN %s %s`, Sender, Password)); !strings.Contains(r[len(r)-1], "OK") {
		t.Fatalf("LOGIN: %q", r)
	}
	var served []string
	for _, cp := range capSet(c.Do("CAPABILITY")) {
		if strings.HasPrefix(cp, "APPENDLIMIT=") {
			cp = "APPENDLIMIT=n"
		}
		served = append(served, cp)
	}
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("docs/imap.md lists\n  %v\nthe server advertises\n  %v", documented, served)
	}
}
