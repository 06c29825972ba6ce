package pgqueue

import "testing"

func TestLeaseID(t *testing.T) {
	for _, gen := range []int64{1, 2, 1 << 40} {
		if g, ok := leaseGen(newLeaseID(gen)); !ok || g != gen {
			t.Fatalf("leaseGen(newLeaseID(%d)) = %d, %v", gen, g, ok)
		}
	}
	for _, bad := range []string{"", "lse_", "lse_ab", "lse_ab.0", "lse_ab.-1", "lse_ab.x", "apr_ab.1", "lse_ab.1.2"} {
		if _, ok := leaseGen(bad); ok {
			t.Fatalf("leaseGen(%q) accepted", bad)
		}
	}
}

// FuzzLeaseGen: a hostile lease id (Lease.ID comes back from the caller) never panics, and
// an accepted one names a positive generation that formats back to its suffix.
func FuzzLeaseGen(f *testing.F) {
	f.Add(newLeaseID(7))
	f.Add("lse_.1")
	f.Add("lse_x.99999999999999999999")
	f.Fuzz(func(t *testing.T, id string) {
		if g, ok := leaseGen(id); ok && g <= 0 {
			t.Fatalf("leaseGen(%q) = %d", id, g)
		}
	})
}
