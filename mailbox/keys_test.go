package mailbox

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// sampleKeys has one key of every family, with fixed values.
func sampleKeys() []struct {
	name string
	key  []byte
	want parsedKey
} {
	id := ulid{0x01, 0x8f, 0x3a, 0x4b, 0x5c, 0x6d, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	body := ulid{0x01, 0x8f, 0x3a, 0x4b, 0x5c, 0x6c, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}
	sk := sortKeyOf(time.Date(2026, 11, 25, 9, 30, 0, 123, time.UTC), id)
	old := sortKeyOf(time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC), id)
	return []struct {
		name string
		key  []byte
		want parsedKey
	}{
		{"meta", metaVersionKey(), parsedKey{Family: famMeta, Name: "version"}},
		{"domain", domainKey("example.com"), parsedKey{Family: famDomain, Name: "example.com"}},
		{"mailbox", mailboxKey("agent@example.com"), parsedKey{Family: famMailbox, Name: "agent@example.com"}},
		{"apikey", apiKeyKey("key_abc"), parsedKey{Family: famAPIKey, Name: "key_abc"}},
		{"keyhash", keyHashKey(strings.Repeat("ab", 32)), parsedKey{Family: famKeyHash, Name: strings.Repeat("ab", 32)}},
		{"foldername", folderNameKey("agent@example.com", "Projects/2026"),
			parsedKey{Family: famFolderName, Name: "agent@example.com", Folder: "Projects/2026"}},
		{"folder", folderKey(7), parsedKey{Family: famFolder, FID: 7}},
		{"email", emailKey(id), parsedKey{Family: famEmail, ID: id}},
		{"uid", uidKey(7, 42), parsedKey{Family: famUID, FID: 7, UID: 42}},
		{"vanished", vanishedKey(7, 1042), parsedKey{Family: famVanished, FID: 7, ModSeq: 1042}},
		{"usage", usageKey("agent@example.com"), parsedKey{Family: famUsage, Name: "agent@example.com"}},
		{"pending", pendingKey(7, id), parsedKey{Family: famPending, FID: 7, ID: id}},
		{"time", timeKey("agent@example.com", sk), parsedKey{Family: famTime, Name: "agent@example.com", ID: id, Sort: sk}},
		{"time before 1970", timeKey("agent@example.com", old), parsedKey{Family: famTime, Name: "agent@example.com", ID: id, Sort: old}},
		{"keyword", keywordKey("agent@example.com", "$Invoice", sk),
			parsedKey{Family: famKeyword, Name: "agent@example.com", Keyword: "$invoice", ID: id, Sort: sk}},
		{"body", bodyKey(body), parsedKey{Family: famBody, Body: body}},
		{"bodyref", bodyRefKey(body, id), parsedKey{Family: famBodyRef, Body: body, ID: id}},
	}
}

func TestKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range sampleKeys() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.key[0] != 'm' {
				t.Fatalf("key %x outside prefix m", tc.key)
			}
			got, err := parseKey(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("parseKey = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestKeyOrder(t *testing.T) {
	t.Parallel()
	a := sortKeyOf(time.Unix(-5, 0), ulid{})
	b := sortKeyOf(time.Unix(5, 0), ulid{})
	c := sortKeyOf(time.Unix(5, 0), ulid{15: 1})
	if !(bytes.Compare(timeKey("x@y", a), timeKey("x@y", b)) < 0 && bytes.Compare(timeKey("x@y", b), timeKey("x@y", c)) < 0) {
		t.Fatal("time index does not sort by date then id")
	}
	if bytes.Compare(uidKey(1, 255), uidKey(1, 256)) >= 0 || bytes.Compare(uidKey(1, 1<<31), uidKey(2, 0)) >= 0 {
		t.Fatal("uid index does not sort by folder then uid")
	}
	// A mailbox's keys never interleave with a longer address sharing its prefix.
	if bytes.HasPrefix(timeKey("a@b.co", a), timePrefix("a@b.c")) {
		t.Fatal("prefix of a@b.c matches a@b.co")
	}
}

func TestFormatKeyGolden(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	for _, tc := range sampleKeys() {
		buf.WriteString(FormatKey(tc.key) + "\n")
	}
	buf.WriteString(FormatKey([]byte("q\x01other package")) + "\n")
	buf.WriteString(FormatKey([]byte{'m', famUID, 1}) + "\n")
	golden := filepath.Join("testdata", "keys.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(buf.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run FormatKeyGolden -update)", err)
	}
	if buf.String() != string(want) {
		t.Fatalf("FormatKey output changed; got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestParseKeyRejects(t *testing.T) {
	t.Parallel()
	for name, k := range map[string][]byte{
		"empty":          nil,
		"other prefix":   []byte("q\x01x"),
		"unknown family": {'m', 0x7f},
		"short folder":   {'m', famFolder, 1, 2},
		"short email":    {'m', famEmail, 1},
		"long uid":       append(uidKey(1, 2), 0),
		"time no sep":    append([]byte{'m', famTime}, bytes.Repeat([]byte{1}, sortKeyLen+3)...),
		"keyword no sep": append(append([]byte{'m', famKeyword, 'a', 0}, 'k'), bytes.Repeat([]byte{1}, sortKeyLen)...),
		"foldername":     []byte("m\x05no separator"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseKey(k); err == nil {
				t.Fatalf("parseKey(%q) accepted", k)
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	for _, tc := range sampleKeys() {
		f.Add(tc.key)
	}
	f.Fuzz(func(t *testing.T, k []byte) {
		p, err := parseKey(k)
		_ = FormatKey(k)
		if err != nil {
			return
		}
		if p.Family == famUID && !bytes.Equal(uidKey(p.FID, p.UID), k) {
			t.Fatalf("uid key does not round-trip: %x", k)
		}
		if p.Family == famTime && !bytes.Equal(timeKey(p.Name, p.Sort), k) {
			t.Fatalf("time key does not round-trip: %x", k)
		}
	})
}

func FuzzParseCursor(f *testing.F) {
	f.Add(sortKeyOf(time.Unix(1, 2), ulid{3}).cursor())
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, c string) {
		k, err := parseCursor(c)
		if err == nil && k.cursor() != c {
			if back, err := parseCursor(k.cursor()); err != nil || back != k {
				t.Fatalf("cursor %q does not round-trip", c)
			}
		}
	})
}
