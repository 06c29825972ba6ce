package identity

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

const testMsg = "From: Auth <auth@example.com>\r\nTo: user@example.net\r\nSubject: Your code\r\n" +
	"Date: Sat, 05 Dec 2026 12:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n\r\nYour code is 123456.\r\n"

func testHeader() Header {
	return Header{Mailbox: "auth@example.com", Mode: "gated_send", Release: ReleaseApproved,
		Ref: "apr_01KBQ0000000000000000000AA", At: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC),
		Msg: "msg_01KBQ0000000000000000000AB"}
}

// testKeys returns a key set with one active key (mmid1) and its private key.
func testKeys(t *testing.T) (KeySet, []byte) {
	t.Helper()
	pemKey, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := PublicKey("example.com", DefaultSelector, StatusActive, pemKey)
	if err != nil {
		t.Fatal(err)
	}
	return KeySet{Version: 1, Keys: []Key{k}}, pemKey
}

func signTest(t *testing.T, msg string, h Header, pemKey []byte) []byte {
	t.Helper()
	key, err := ParseKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Sign([]byte(msg), h, "example.com", DefaultSelector, key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHeaderFormatParse(t *testing.T) {
	h := testHeader()
	v, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	want := "v=1; mailbox=auth@example.com; mode=gated_send; release=approved; ref=apr_01KBQ0000000000000000000AA; at=2026-12-05T12:00:00Z; msg=msg_01KBQ0000000000000000000AB"
	if v != want {
		t.Fatalf("Format = %q\nwant     %q", v, want)
	}
	got, err := ParseHeader(" v=1;\r\n mailbox=auth@example.com ;mode=gated_send; release=approved; ref=apr_01KBQ0000000000000000000AA; at=2026-12-05T12:00:00Z; msg=msg_01KBQ0000000000000000000AB")
	if err != nil || got != h {
		t.Fatalf("ParseHeader = %+v, %v", got, err)
	}
}

func TestParseHeaderRefuses(t *testing.T) {
	base := "v=1; mailbox=a@example.com; mode=autonomous; release=autonomous; at=2026-12-05T12:00:00Z; msg=msg_01KBQ0000000000000000000AB"
	for name, v := range map[string]string{
		"version":         strings.Replace(base, "v=1", "v=2", 1),
		"unknown tag":     base + "; by=alice@example.com",
		"repeated tag":    base + "; mode=monitored",
		"bad release":     strings.Replace(base, "release=autonomous", "release=whatever", 1),
		"approved no ref": strings.Replace(base, "release=autonomous", "release=approved", 1),
		"ref on auto":     base + "; ref=apr_01KBQ0000000000000000000AA",
		"bad mode":        strings.Replace(base, "mode=autonomous", "mode=read_only", 1),
		"local time":      strings.Replace(base, "12:00:00Z", "12:00:00+01:00", 1),
		"no msg":          strings.Replace(base, "; msg=msg_01KBQ0000000000000000000AB", "", 1),
		"bad mailbox":     strings.Replace(base, "a@example.com", "a", 1),
		"not tag=value":   base + "; junk",
	} {
		if _, err := ParseHeader(v); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseHeader(%q) = %v, want ErrMalformed", name, v, err)
		}
	}
	if _, err := ParseHeader(base); err != nil {
		t.Fatalf("base: %v", err)
	}
}

func TestSignVerify(t *testing.T) {
	ks, pemKey := testKeys(t)
	signed := signTest(t, testMsg, testHeader(), pemKey)
	res, err := Verify(signed, ks.LookupTXT)
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, signed)
	}
	if res.Header != testHeader() || res.Domain != "example.com" || res.Selector != "mmid1" || res.From != "auth@example.com" {
		t.Fatalf("result %+v", res)
	}
	// An LF-only copy (a tool that dropped the CRs) still verifies.
	if _, err := Verify(bytes.ReplaceAll(signed, []byte("\r\n"), []byte("\n")), ks.LookupTXT); err != nil {
		t.Fatalf("LF-only: %v", err)
	}
}

func TestVerifyFailures(t *testing.T) {
	ks, pemKey := testKeys(t)
	signed := string(signTest(t, testMsg, testHeader(), pemKey))
	other, _ := testKeys(t)
	revokedSet := KeySet{Keys: []Key{{Domain: "example.com", Selector: "mmid1", Algorithm: Algorithm, Status: StatusRevoked}}}
	cases := []struct {
		name string
		msg  string
		keys KeySet
		want error
	}{
		{"body byte", strings.Replace(signed, "123456", "123457", 1), ks, ErrBodyHash},
		{"subject", strings.Replace(signed, "Your code\r\n", "Your c0de\r\n", 1), ks, ErrBadSignature},
		{"from display name", strings.Replace(signed, "From: Auth", "From: Bank", 1), ks, ErrBadSignature},
		{"from address", strings.Replace(signed, "From: Auth <auth@", "From: Auth <ceo@", 1), ks, ErrNotAligned},
		{"header release", strings.Replace(signed, "release=approved", "release=auto_approved", 1), ks, ErrBadSignature},
		{"header removed", strings.Replace(signed, "\r\nMultimail-Identity:", "\r\nX-Was:", 1), ks, ErrMissingHeader},
		{"second header", "Multimail-Identity: " + mustFormat(t) + "\r\n" + signed, ks, ErrMalformed},
		{"second From", "From: auth@example.com\r\n" + signed, ks, ErrMalformed},
		{"unknown key", signed, KeySet{}, ErrUnknownKey},
		{"other key", signed, other, ErrBadSignature},
		{"revoked", signed, revokedSet, ErrRevokedKey},
		{"no signature", strings.Replace(signed, "DKIM-Signature:", "X-Old-Signature:", 1), ks, ErrNoSignature},
	}
	for _, tc := range cases {
		_, err := Verify([]byte(tc.msg), tc.keys.LookupTXT)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// A signature by another domain (d= not the From domain) is refused even when it verifies.
func TestVerifyDomainAlignment(t *testing.T) {
	pemKey, _ := GenerateKey()
	key, _ := ParseKey(pemKey)
	h := testHeader()
	h.Mailbox = "auth@evil.example"
	signed, err := Sign([]byte(strings.Replace(testMsg, "auth@example.com", "auth@evil.example", 1)), h, "evil.example", "mmid1", key)
	if err != nil {
		t.Fatal(err)
	}
	// Make the message claim example.com in both From and the header: the signature's d= stays evil.example.
	forged := strings.ReplaceAll(string(signed), "auth@evil.example", "auth@example.com")
	k, _ := PublicKey("evil.example", "mmid1", StatusActive, pemKey)
	if _, err := Verify([]byte(forged), KeySet{Keys: []Key{k}}.LookupTXT); !errors.Is(err, ErrNotAligned) {
		t.Fatalf("Verify = %v, want ErrNotAligned", err)
	}
	if _, err := Sign([]byte(testMsg), testHeader(), "evil.example", "mmid1", key); err == nil {
		t.Fatal("Sign for a domain other than the mailbox's succeeded")
	}
}

// Sign removes a Multimail-Identity the submitter put in the message (folded or not).
func TestSignReplacesExistingField(t *testing.T) {
	ks, pemKey := testKeys(t)
	msg := "Multimail-Identity: v=1; mailbox=auth@example.com;\r\n mode=autonomous\r\n" + testMsg
	signed := signTest(t, msg, testHeader(), pemKey)
	if n := bytes.Count(signed, []byte("\nMultimail-Identity:")); n != 1 {
		t.Fatalf("%d Multimail-Identity fields:\n%s", n, signed)
	}
	if _, err := Verify(signed, ks.LookupTXT); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveFields(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A: 1\r\nX-Y: 2\r\n folded\r\nB: 3\r\n\r\nX-Y: body\r\n", "A: 1\r\nB: 3\r\n\r\nX-Y: body\r\n"},
		{"x-y : 1\r\nA: 1\r\n\r\n", "A: 1\r\n\r\n"},
		{"A: 1\r\n\r\nbody", "A: 1\r\n\r\nbody"},
		{"X-Y: 1", ""},
	} {
		if got := string(RemoveFields([]byte(tc.in), "X-Y")); got != tc.want {
			t.Errorf("RemoveFields(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestKeySetRecords(t *testing.T) {
	ks, _ := testKeys(t)
	k := ks.Keys[0]
	if k.RecordName() != "mmid1._domainkey.example.com." || !strings.HasPrefix(k.TXT(), "v=DKIM1; k=ed25519; p=") || len(k.PublicKey) != 44 {
		t.Fatalf("record %s %s", k.RecordName(), k.TXT())
	}
	rk, err := PublicKey("example.com", "mmid0", StatusRevoked, nil)
	if err != nil || rk.TXT() != "v=DKIM1; k=ed25519; p=" {
		t.Fatalf("revoked: %+v %v", rk, err)
	}
}

func mustFormat(t *testing.T) string {
	h := testHeader()
	h.Release, h.Ref = ReleaseAutonomous, ""
	v, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func FuzzParseHeader(f *testing.F) {
	v, _ := testHeader().Format()
	f.Add(v)
	f.Add("v=1; mailbox=a@b; mode=system; release=autonomous; at=2026-12-05T12:00:00Z; msg=msg_01KBQ0000000000000000000AB")
	f.Add(";;;=;v=")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		if err != nil {
			return
		}
		out, err := h.Format()
		if err != nil {
			t.Fatalf("parsed %q but cannot format it: %v", s, err)
		}
		if h2, err := ParseHeader(out); err != nil || h2 != h {
			t.Fatalf("round trip of %q: %+v %v", s, h2, err)
		}
	})
}

// FuzzVerify: Verify never panics on hostile input and accepts nothing the key did not sign.
func FuzzVerify(f *testing.F) {
	pemKey, _ := GenerateKey()
	key, _ := ParseKey(pemKey)
	k, _ := PublicKey("example.com", DefaultSelector, StatusActive, pemKey)
	ks := KeySet{Keys: []Key{k}}
	signed, _ := Sign([]byte(testMsg), testHeader(), "example.com", DefaultSelector, key)
	f.Add(signed)
	f.Add([]byte(testMsg))
	f.Add([]byte("Multimail-Identity: v=1\r\nDKIM-Signature: a=ed25519-sha256; h=multimail-identity\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		res, err := Verify(msg, ks.LookupTXT)
		if err == nil && (res.Domain != "example.com" || !bytes.Contains(msg, []byte("123456"))) {
			t.Fatalf("accepted %q as %+v", msg, res)
		}
	})
}

// A message released twice (held again after a restore, then approved) carries one identity
// header and one identity signature, and it verifies; another DKIM-Signature is kept.
func TestSignReplacesEarlierSignature(t *testing.T) {
	ks, pemKey := testKeys(t)
	other := "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=mm1; h=From:To:Subject;\r\n bh=x; b=y\r\n"
	once := signTest(t, other+testMsg, testHeader(), pemKey)
	h := testHeader()
	h.Release = ReleaseAutoApproved
	twice := signTest(t, string(once), h, pemKey)
	if n := bytes.Count(twice, []byte("DKIM-Signature:")); n != 2 {
		t.Fatalf("%d DKIM-Signature fields, want the other one and ours:\n%s", n, twice)
	}
	if !bytes.Contains(twice, []byte("s=mm1;")) {
		t.Fatalf("the other signature was removed:\n%s", twice)
	}
	res, err := Verify(twice, ks.LookupTXT)
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, twice)
	}
	if res.Header.Release != ReleaseAutoApproved {
		t.Fatalf("release %q", res.Header.Release)
	}
}
