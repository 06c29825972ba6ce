package webhook

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// The Standard Webhooks reference test vector.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignVector(t *testing.T) {
	t.Parallel()
	got, err := Sign(vecSecret, vecID, time.Unix(vecTS, 0), []byte(vecBody))
	if err != nil || got != vecSig {
		t.Fatalf("Sign = %q, %v; want %q", got, err, vecSig)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(vecTS, 0)
	hdr := func(id, ts, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		return h
	}
	tests := []struct {
		name   string
		secret string
		h      http.Header
		body   string
		at     time.Time
		want   error
	}{
		{"valid", vecSecret, hdr(vecID, "1614265330", vecSig), vecBody, now, nil},
		{"one of several", vecSecret, hdr(vecID, "1614265330", "v1,bm9wZQ== "+vecSig+" v2,x"), vecBody, now, nil},
		{"tampered body", vecSecret, hdr(vecID, "1614265330", vecSig), `{"test": 1}`, now, ErrNoMatchingSig},
		{"other id", vecSecret, hdr("msg_other", "1614265330", vecSig), vecBody, now, ErrNoMatchingSig},
		{"too old", vecSecret, hdr(vecID, "1614265330", vecSig), vecBody, now.Add(10 * time.Minute), ErrBadTimestamp},
		{"from the future", vecSecret, hdr(vecID, "1614265330", vecSig), vecBody, now.Add(-10 * time.Minute), ErrBadTimestamp},
		{"bad timestamp", vecSecret, hdr(vecID, "soon", vecSig), vecBody, now, ErrBadTimestamp},
		{"missing headers", vecSecret, http.Header{}, vecBody, now, ErrMissingHeaders},
		{"bad secret", "whsec_!!!", hdr(vecID, "1614265330", vecSig), vecBody, now, ErrBadSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := verifyAt(tc.secret, tc.h, []byte(tc.body), 5*time.Minute, tc.at)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyAcceptsSign(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"delivered"}`)
	sig, err := Sign(vecSecret, "wh_1", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(HeaderID, "wh_1")
	h.Set(HeaderTimestamp, itoa(time.Now().Unix()))
	h.Set(HeaderSignature, sig)
	if err := Verify(vecSecret, h, body, time.Minute); err != nil {
		t.Fatal(err)
	}
}
