package mailbox

import (
	"reflect"
	"testing"
	"time"
)

func TestEmailRecordRoundTrip(t *testing.T) {
	t.Parallel()
	id := ulid{1, 2, 3}
	cases := map[string]emailRecord{
		"empty": {Email: Email{ID: id.String(), Flags: []string{}, Keywords: []string{}}},
		"full": {
			Email: Email{ID: id.String(), Mailbox: "a@example.com", UID: 1 << 31, ModSeq: 1 << 40,
				Flags: []string{FlagSeen, FlagDeleted, FlagDraft}, Keywords: []string{"Invoice", "$Junk"},
				InternalDate: time.Date(2026, 11, 25, 9, 30, 0, 5, time.FixedZone("", 3600)), Size: 5120,
				From: []string{"A <a@x.example>"}, To: []string{"b@y.example", "c@y.example"}, Cc: []string{"d@z"},
				Subject: "héllo", MessageID: "id@x", Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				AuthResults: "mx; spf=pass", Pending: true},
			FolderID: 1 << 50, Body: ulid{9, 9, 9},
		},
		"before 1970": {Email: Email{ID: id.String(), Flags: []string{}, Keywords: []string{}, InternalDate: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := decodeEmailRecord(id, r.encode())
			if err != nil {
				t.Fatal(err)
			}
			if !got.InternalDate.Equal(r.InternalDate) || !got.Date.Equal(r.Date) {
				t.Fatalf("times %v %v, want %v %v", got.InternalDate, got.Date, r.InternalDate, r.Date)
			}
			if _, off := got.InternalDate.Zone(); !r.InternalDate.IsZero() && off != zoneOffset(r.InternalDate) {
				t.Fatalf("zone offset %d lost", off)
			}
			got.InternalDate, got.Date, r.InternalDate, r.Date = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, r)
			}
		})
	}
}

func zoneOffset(t time.Time) int {
	_, off := t.Zone()
	return off
}

func TestEmailRecordTruncated(t *testing.T) {
	t.Parallel()
	r := emailRecord{Email: Email{Keywords: []string{"a"}, Subject: "s", Mailbox: "m@x"}, FolderID: 3}
	b := r.encode()
	for n := 0; n < len(b); n++ {
		if _, err := decodeEmailRecord(ulid{}, b[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	if _, err := decodeEmailRecord(ulid{}, append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func FuzzDecodeEmailRecord(f *testing.F) {
	full := emailRecord{Email: Email{Keywords: []string{"k"}, From: []string{"f"}, Subject: "s",
		InternalDate: time.Unix(5, 0), Mailbox: "m@x"}, FolderID: 2}
	f.Add(full.encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeEmailRecord(ulid{}, b)
		if err != nil {
			return
		}
		back, err := decodeEmailRecord(ulid{}, r.encode())
		if err != nil || back.Subject != r.Subject || back.UID != r.UID || len(back.Keywords) != len(r.Keywords) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}

func FuzzParseSummary(f *testing.F) {
	f.Add([]byte("From: A <a@x>\r\nTo: b@y\r\nSubject: =?utf-8?q?x?=\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\nbody"))
	f.Add([]byte(""))
	f.Add([]byte(" leading space\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_ = parseSummary(raw) // must not panic
	})
}

func FuzzValidateKeyword(f *testing.F) {
	for _, s := range []string{"ok", "$Junk", "a b", `\Seen`, "]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if ValidateKeyword(k) != nil {
			return
		}
		for i := 0; i < len(k); i++ {
			if c := k[i]; c <= ' ' || c >= 0x7f {
				t.Fatalf("accepted %q", k)
			}
		}
	})
}
