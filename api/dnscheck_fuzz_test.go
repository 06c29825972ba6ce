package api

import (
	"strings"
	"testing"
)

// FuzzCompareTXT feeds hostile TXT answers (what a resolver returns is input) to the domain
// check's comparison: it must never panic, and an answer equal to the expected record is ok.
func FuzzCompareTXT(f *testing.F) {
	for _, s := range []string{"v=spf1 mx ~all", "v=DKIM1; k=rsa; p=MIIB", "v=DMARC1; p=none; rua=mailto:a@b", "v=STSv1; id=abc",
		"v=TLSRPTv1; rua=mailto:x@y", "=;=;;", "v=DKIM1; p", "\x00;v=\xff", strings.Repeat("a=b;", 300)} {
		f.Add("dmarc", s, s)
		f.Add("dkim", "v=DKIM1; k=ed25519; p=AAAA", s)
	}
	f.Fuzz(func(t *testing.T, purpose, want, got string) {
		var found []string
		res, _ := compareTXT(purpose, want, []string{got}, &found)
		switch res {
		case "ok", "missing", "wrong":
		default:
			t.Fatalf("result %q", res)
		}
		_ = tagList(got)
		for _, p := range []string{"spf", "dkim", "identity", "dmarc", "mta-sts", "tls-rpt"} {
			var fd []string
			if r, d := compareTXT(p, want, []string{want}, &fd); r == "wrong" && p != "spf" && p != "dmarc" && p != "tls-rpt" {
				t.Fatalf("%s: the expected value %q compared with itself is wrong: %s", p, want, d)
			}
		}
	})
}
