package submission

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"multimail.dev/multimail/internal/interoptest"

	"github.com/emersion/go-msgauth/dkim"

	"multimail.dev/multimail/mailbox"
)

// dkimRecord is the DNS TXT record publishing the public half of a PEM key.
func dkimRecord(tb testing.TB, pemKey []byte) string {
	tb.Helper()
	k, err := ParseDKIMKey(pemKey)
	if err != nil {
		tb.Fatal(err)
	}
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			tb.Fatal(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	tb.Fatalf("key type %T", k)
	return ""
}

// goVerify verifies msg with go-msgauth against record published at sel._domainkey.domain.
// A released message also carries the identity signature (another selector, identity_test.go);
// only the domain's DKIM signature is checked here.
func goVerify(t *testing.T, msg []byte, name, record string) {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(d string) ([]string, error) {
			if d != name {
				return nil, fmt.Errorf("unexpected lookup %s", d)
			}
			return []string{record}, nil
		},
	})
	var dkimSig []*dkim.Verification
	for _, v := range vs {
		if !strings.HasPrefix(strings.ToLower(strings.Join(v.HeaderKeys, ":")), "multimail-identity:") {
			dkimSig = append(dkimSig, v)
		}
	}
	if err != nil || len(dkimSig) != 1 || dkimSig[0].Err != nil {
		t.Fatalf("go-msgauth verify: %v %+v", err, vs)
	}
	if got := strings.Join(dkimSig[0].HeaderKeys, ":"); !strings.HasPrefix(strings.ToLower(got), "from:from:to:cc:subject") {
		t.Errorf("h= %s: From not oversigned", got)
	}
}

// pyVerify is an independent check: Debian's python3-dkim (dkimpy, the library of
// /usr/bin/dkimverify) with its DNS lookup answered from a file of "name<TAB>record" lines.
// Every DKIM-Signature of the message must verify (a released message has two: the domain's
// DKIM signature and the identity signature).
const pyVerify = `
import sys, dkim
records = {}
for line in open(sys.argv[2], 'rb').read().splitlines():
    n, r = line.split(b'\t', 1)
    records[n] = r
def dnsfunc(n, timeout=5):
    return records.get(n.rstrip(b'.'))
d = dkim.DKIM(open(sys.argv[1], 'rb').read())
n = sum(1 for k, v in d.headers if k.lower() == b'dkim-signature')
if n == 0:
    sys.exit(2)
for i in range(n):
    if not d.verify(idx=i, dnsfunc=dnsfunc):
        print('signature', i, 'refused')
        sys.exit(1)
`

// pythonVerify runs pyVerify and fails the test when python3-dkim refuses a signature.
// records maps "<selector>._domainkey.<domain>" to its TXT record.
func pythonVerify(t *testing.T, msg []byte, records map[string]string) {
	t.Helper()
	if out, err := pythonCheck(t, msg, records); err != nil {
		t.Fatalf("python3-dkim refused the signature: %v\n%s", err, out)
	}
}

// pythonCheck runs pyVerify; it skips when python3-dkim is missing unless MULTIMAIL_INTEROP=1.
func pythonCheck(t *testing.T, msg []byte, records map[string]string) ([]byte, error) {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import dkim, nacl").Run(); err != nil {
		interoptest.Missing(t, "python3-dkim with nacl not installed")
	}
	dir := t.TempDir()
	msgFile, recFile := filepath.Join(dir, "msg.eml"), filepath.Join(dir, "record.txt")
	if err := os.WriteFile(msgFile, msg, 0o600); err != nil {
		return nil, err
	}
	var recs []byte
	for name, r := range records {
		recs = append(recs, name+"\t"+r+"\n"...)
	}
	if err := os.WriteFile(recFile, recs, 0o600); err != nil {
		return nil, err
	}
	return exec.Command(py, "-c", pyVerify, msgFile, recFile).CombinedOutput()
}

// TestDKIMSign signs with both key types and checks with two independent verifiers.
func TestDKIMSign(t *testing.T) {
	t.Parallel()
	raw := []byte("From: a@example.com\r\nTo: b@dest.example\r\nSubject: t\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n" +
		"Message-ID: <1@x>\r\n\r\nbody line\r\n  with  spaces  \r\n\r\n\r\n")
	for _, tc := range []struct{ name, pemFile, domain, sel string }{
		{"rsa2048", "testdata/rsa2048.pem", "example.com", "rsa1"},
		{"ed25519", "testdata/ed25519.pem", "ed.example", "ed1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var kc keyCache
			pemKey := readFile(t, tc.pemFile)
			key, sel, err := kc.signer(mailbox.Domain{Name: tc.domain, DKIMSelector: tc.sel, DKIMKeyPEM: pemKey})
			if err != nil {
				t.Fatal(err)
			}
			signed, err := sign(raw, tc.domain, sel, key)
			if err != nil {
				t.Fatal(err)
			}
			name, rec := sel+"._domainkey."+tc.domain, dkimRecord(t, pemKey)
			goVerify(t, signed, name, rec)
			pythonVerify(t, signed, map[string]string{name: rec})
			tampered := bytes.Replace(signed, []byte("body line"), []byte("body lime"), 1)
			if _, err := pythonCheck(t, tampered, map[string]string{name: rec}); err == nil {
				t.Fatal("python3-dkim accepted a tampered body: the check proves nothing")
			}
		})
	}
}

// TestDKIMEndToEnd checks the queued bytes of API and SMTP-style submissions.
func TestDKIMEndToEnd(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, mbox, pemFile, sel string }{
		{"rsa via api", "auto@example.com", "testdata/rsa2048.pem", "rsa1"},
		{"ed25519 via api", "ed@ed.example", "testdata/ed25519.pem", "ed1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := basicReq(tc.mbox)
			req.HTML = "<p>caf\u00e9</p>"
			req.Attachments = []Attachment{{Filename: "x.bin", Content: bytes.Repeat([]byte{0, 1, 2, 255}, 100)}}
			rc, err := env.sub.Send(ctx, req, apiAs(tc.mbox))
			if err != nil {
				t.Fatal(err)
			}
			body, err := env.q.Body(ctx, rc.ID)
			if err != nil {
				t.Fatal(err)
			}
			name, rec := tc.sel+"._domainkey."+domainOf(tc.mbox), dkimRecord(t, readFile(t, tc.pemFile))
			goVerify(t, body, name, rec)
			// dkimpy checks both signatures: the domain's and the identity signature (Ed25519).
			recs := map[string]string{name: rec}
			for _, k := range testKeySet(t).Keys {
				recs[k.Selector+"._domainkey."+k.Domain] = k.TXT()
			}
			pythonVerify(t, body, recs)
			delete(recs, identityName(tc.mbox))
			if _, err := pythonCheck(t, body, recs); err == nil {
				t.Fatal("python3-dkim accepted the message without the identity key: the identity signature went unchecked")
			}
			changed := bytes.Replace(body, []byte("mode=autonomous"), []byte("mode=gated_send"), 1)
			if bytes.Equal(changed, body) {
				t.Fatal("no mode=autonomous in the identity header")
			}
			recs[identityName(tc.mbox)] = identityTXT(t, domainOf(tc.mbox))
			if _, err := pythonCheck(t, changed, recs); err == nil {
				t.Fatal("python3-dkim accepted a changed identity header")
			}
		})
	}
}

// identityName is the identity key record's name for a test mailbox's domain.
func identityName(mbox string) string { return "mmid1._domainkey." + domainOf(mbox) }

// identityTXT is the identity key record of a test domain.
func identityTXT(t *testing.T, domain string) string {
	for _, k := range testKeySet(t).Keys {
		if k.Domain == domain {
			return k.TXT()
		}
	}
	t.Fatalf("no identity key for %s", domain)
	return ""
}

func TestParseDKIMKeyRejects(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"empty":   "",
		"garbage": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"cert":    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		if _, err := ParseDKIMKey([]byte(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
