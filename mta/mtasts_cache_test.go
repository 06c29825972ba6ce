package mta

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// slowPolicyServer serves a valid enforce policy after release is closed (or a hang until
// the test ends when hang is true).
func slowPolicyServer(t *testing.T, ca *mtatest.CA, release chan struct{}, hits *atomic.Int64) int {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("version: STSv1\nmode: enforce\nmx: mx.slow.test\nmax_age: 600\n"))
	}))
	cfg, err := ca.ServerTLS(0, "mta-sts.slow.test")
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func slowWorld(t *testing.T) (*mtatest.CA, Resolver) {
	t.Helper()
	ca, err := mtatest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dns := mtatest.NewDNS(t, map[string]mtatest.Records{
		"_mta-sts.slow.test": {TXT: []string{"v=STSv1; id=1"}},
		"mta-sts.slow.test":  {A: []string{"127.0.0.1"}},
	})
	return ca, testResolver(t, dns.Addr())
}

// A first fetch that outlasts Wait defers with ErrSTSPending; it goes on in the background,
// and the next lookup uses its policy without fetching again.
func TestSTSPendingThenCached(t *testing.T) {
	t.Parallel()
	ca, res := slowWorld(t)
	release := make(chan struct{})
	var hits atomic.Int64
	port := slowPolicyServer(t, ca, release, &hits)
	m, err := newSTSManager(STSOptions{Port: port, RootCAs: ca.Pool(), Wait: 20 * time.Millisecond,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, res, realClock{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, e := m.lookup(ctx, "slow.test")
	if e == nil || !errors.Is(e, ErrSTSPending) || e.Perm {
		t.Fatalf("first lookup: %v, want a temporary ErrSTSPending", e)
	}
	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		lk, e := m.lookup(ctx, "slow.test")
		if e == nil && lk.policy != nil {
			if lk.policy.Mode != STSEnforce || lk.id != "1" {
				t.Fatalf("lookup %+v", lk)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no policy after the fetch: %+v %v", lk, e)
		}
		time.Sleep(5 * time.Millisecond) // polling the background fetch, bounded by the deadline
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

// A fetch that times out is a fetch error (no policy, RFC 8461 §5.1), and is not tried again
// before Refetch.
func TestSTSFetchTimeoutIsNoPolicyAndRateLimited(t *testing.T) {
	t.Parallel()
	ca, res := slowWorld(t)
	var hits atomic.Int64
	port := slowPolicyServer(t, ca, make(chan struct{}), &hits) // never answers
	m, err := newSTSManager(STSOptions{Port: port, RootCAs: ca.Pool(), Wait: 30 * time.Second,
		FetchTimeout:  100 * time.Millisecond,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, res, realClock{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		lk, e := m.lookup(context.Background(), "slow.test")
		if e != nil || lk.policy != nil || lk.fetchErr == nil {
			t.Fatalf("lookup %d: %+v %v, want no policy with a fetch error", i, lk, e)
		}
	}
	// The server may not even see the request when the handshake outlasts the timeout: at
	// most one fetch reached it.
	if n := hits.Load(); n > 1 {
		t.Fatalf("%d fetches, want at most 1 (rate limited)", n)
	}
}
