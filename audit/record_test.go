package audit

import (
	"bytes"
	"testing"
)

// TestWithHeadIsMarshal: the bytes assembled from a tail are exactly json.Marshal's.
func TestWithHeadIsMarshal(t *testing.T) {
	for name, r := range map[string]Record{
		"minimal": {Kind: KindSend, Actor: "cli"},
		"full": {Kind: KindApprove, Actor: "api:key_1", Mailbox: "a@b.example", Object: "msg_1", Rule: "r <&>",
			Reason: "line\nbreak \"quoted\" \u2028", Rcpts: []string{"00", "11"}, Detail: map[string]string{"z": "1", "a": "<2>"}},
		"empty detail": {Kind: KindConfig, Detail: map[string]string{}},
	} {
		t.Run(name, func(t *testing.T) {
			tail := r.tail()
			r.Seq, r.Prev, r.Time = 18446744073709551615, zeroHash, "2026-12-05T12:00:00.123456789Z"
			if got, want := r.withHead(tail), r.marshal(); !bytes.Equal(got, want) {
				t.Fatalf("withHead:\n%s\nmarshal:\n%s", got, want)
			}
		})
	}
}

// TestKeys: record and checkpoint keys sort by seq and parse back; the prefix is 'a'.
func TestKeys(t *testing.T) {
	for _, seq := range []uint64{0, 1, 255, 256, 1 << 40} {
		for _, k := range [][]byte{recordKey(seq), ckptKey(seq)} {
			if got, ok := seqOf(k); !ok || got != seq || k[0] != 'a' {
				t.Errorf("key %x: seq %d %v, want %d", k, got, ok, seq)
			}
		}
		if bytes.Compare(recordKey(seq), recordKey(seq+1)) >= 0 {
			t.Errorf("record keys of %d and %d out of order", seq, seq+1)
		}
	}
	if !bytes.Equal(recordKey(1), []byte("a\x01\x00\x00\x00\x00\x00\x00\x00\x01")) || string(secretKey("rcpt")) != "a\x04rcpt" {
		t.Errorf("key layout changed: %q %q", recordKey(1), secretKey("rcpt"))
	}
}

// FuzzVerify: Verify never panics on any input, and names a line or a record when it refuses.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"audit_journal":1,"origin":"o","key":"k","complete":true}` + "\n" +
		`{"seq":1,"prev":"` + zeroHash + `","time":"t","kind":"send","actor":"cli"}` + "\n"))
	f.Add([]byte(`{"checkpoint":"o\n3\nAAAA\n\n— o AAAA\n"}` + "\n" + `{"seq":4,"hash":"x","omitted":true}`))
	f.Add([]byte("{}\n[]\nnull\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := Verify(bytes.NewReader(in), VerifyOptions{})
		if e, ok := err.(*Error); ok && e.Reason == "" {
			t.Fatalf("an error without a reason: %+v", e)
		}
	})
}
