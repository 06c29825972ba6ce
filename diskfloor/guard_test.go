package diskfloor

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const mib = 1 << 20

// fakeDisk is a filesystem of cap bytes of which others use `other`; the ballast file in dir
// counts against it, so creating and releasing it moves the free space as on a real disk.
type fakeDisk struct {
	dir   string
	cap   int64
	mu    sync.Mutex
	other int64
	calls int
	err   error
}

func (d *fakeDisk) statfs(dir string) (Usage, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.err != nil {
		return Usage{}, d.err
	}
	used := d.other
	if fi, err := os.Stat(filepath.Join(d.dir, BallastName)); err == nil {
		used += fi.Size()
	}
	return Usage{Free: max(d.cap-used, 0), Total: d.cap}, nil
}

func (d *fakeDisk) setOther(n int64) {
	d.mu.Lock()
	d.other = n
	d.mu.Unlock()
}

func (d *fakeDisk) statCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// fakeClock advances only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestGuard(t *testing.T, minFree, ballast int64, reg prometheus.Registerer) (*Guard, *fakeDisk, *fakeClock) {
	t.Helper()
	dir := t.TempDir()
	disk := &fakeDisk{dir: dir, cap: 100 * mib}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	g, err := New(Options{Dir: dir, MinFree: minFree, Ballast: ballast, Statfs: disk.statfs, Now: clock.now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return g, disk, clock
}

func TestAdmitFollowsTheFloor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		minFree int64
		other   int64
		want    error
	}{
		{"plenty of space", 10 * mib, 50 * mib, nil},
		{"exactly at the floor", 10 * mib, 90 * mib, nil},
		{"one byte below the floor", 10 * mib, 90*mib + 1, ErrInsufficientStorage},
		{"disk full", 10 * mib, 100 * mib, ErrInsufficientStorage},
		{"no floor, disk full", 0, 100 * mib, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, disk, clock := newTestGuard(t, tc.minFree, 0, nil)
			disk.setOther(tc.other)
			clock.add(DefaultMaxAge)
			if err := g.Admit(); !errors.Is(err, tc.want) {
				t.Fatalf("Admit = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAdmitResumesWhenSpaceComesBack(t *testing.T) {
	t.Parallel()
	g, disk, clock := newTestGuard(t, 10*mib, 0, nil)
	disk.setOther(95 * mib)
	clock.add(DefaultMaxAge)
	if err := g.Admit(); !errors.Is(err, ErrInsufficientStorage) {
		t.Fatalf("below the floor: Admit = %v", err)
	}
	disk.setOther(10 * mib)
	if err := g.Admit(); err == nil {
		t.Fatal("a reading younger than MaxAge was not trusted")
	}
	clock.add(DefaultMaxAge)
	if err := g.Admit(); err != nil {
		t.Fatalf("space is back: Admit = %v", err)
	}
}

func TestAdmitCachesTheReading(t *testing.T) {
	t.Parallel()
	g, disk, clock := newTestGuard(t, 10*mib, 0, nil)
	before := disk.statCalls()
	for range 1000 {
		_ = g.Admit()
	}
	if n := disk.statCalls() - before; n != 0 {
		t.Fatalf("1000 Admit calls within MaxAge made %d statfs calls, want 0", n)
	}
	clock.add(DefaultMaxAge)
	_ = g.Admit()
	if n := disk.statCalls() - before; n != 1 {
		t.Fatalf("after MaxAge: %d statfs calls, want 1", n)
	}
}

func TestStatfsErrorDoesNotRefuse(t *testing.T) {
	t.Parallel()
	g, disk, clock := newTestGuard(t, 10*mib, 0, nil)
	disk.mu.Lock()
	disk.err = errors.New("EIO")
	disk.mu.Unlock()
	clock.add(DefaultMaxAge)
	if err := g.Admit(); err != nil {
		t.Fatalf("Admit = %v; an unreadable statfs must not stop intake (Pebble's own errors do)", err)
	}
	if st := g.Status(); st.Err == nil {
		t.Fatal("Status hides the statfs error")
	}
}

func TestBallastLifecycle(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	g, disk, _ := newTestGuard(t, 20*mib, 8*mib, reg)
	path := filepath.Join(disk.dir, BallastName)

	// Plenty of space: the ballast is created and takes its bytes.
	st := g.Check()
	if st.Ballast != 8*mib || st.Free != 92*mib {
		t.Fatalf("after first Check: %+v, want ballast 8 MiB, free 92 MiB", st)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 8*mib || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ballast file: %v %v", fi, err)
	}

	// Something fills the disk into the floor's band but above the release mark: kept.
	disk.setOther(80 * mib) // free 12 MiB, floor 20, mark 5
	if st := g.Check(); st.Ballast != 8*mib || !st.Below {
		t.Fatalf("inside the band: %+v", st)
	}
	if got := testutil.ToFloat64(g.m.below); got != 1 {
		t.Fatalf("below_floor gauge = %v", got)
	}

	// Below the release mark: released, its bytes are free again.
	disk.setOther(88 * mib) // free 4 MiB < mark 5 MiB
	st = g.Check()
	if st.Ballast != 0 || st.Free != 12*mib {
		t.Fatalf("after release: %+v, want no ballast and 12 MiB free", st)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("ballast file still there: %v", err)
	}

	// Space back above the floor but not floor+ballast: accept, no ballast yet.
	disk.setOther(75 * mib) // free 25 MiB
	if st := g.Check(); st.Ballast != 0 || st.Below {
		t.Fatalf("above the floor, short of floor+ballast: %+v", st)
	}
	// Enough for both: recreated, and still at or above the floor.
	disk.setOther(70 * mib) // free 30 MiB >= 28
	st = g.Check()
	if st.Ballast != 8*mib || st.Below || st.Free != 22*mib {
		t.Fatalf("recreated: %+v", st)
	}
	if got := testutil.ToFloat64(g.m.ballast); got != 8*mib {
		t.Fatalf("ballast gauge = %v", got)
	}
}

func TestBallastNotCreatedBelowFloorPlusBallast(t *testing.T) {
	t.Parallel()
	g, disk, _ := newTestGuard(t, 20*mib, 8*mib, nil)
	disk.setOther(75 * mib) // free 25 MiB < 28
	if st := g.Check(); st.Ballast != 0 || st.Below {
		t.Fatalf("%+v: creating the ballast would have pushed the node below the floor", st)
	}
}

func TestOldBallastOfAnotherSizeIsReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, BallastName)
	if err := os.WriteFile(path, make([]byte, 3*mib), 0o600); err != nil {
		t.Fatal(err)
	}
	disk := &fakeDisk{dir: dir, cap: 100 * mib}
	g, err := New(Options{Dir: dir, MinFree: 10 * mib, Ballast: 2 * mib, Statfs: disk.statfs})
	if err != nil {
		t.Fatal(err)
	}
	if st := g.Status(); st.Ballast != 0 {
		t.Fatalf("a 3 MiB ballast was adopted as the configured 2 MiB: %+v", st)
	}
	if st := g.Check(); st.Ballast != 2*mib {
		t.Fatalf("not recreated at the configured size: %+v", st)
	}
	// Turning the ballast off removes it.
	if _, err := New(Options{Dir: dir, MinFree: 10 * mib, Statfs: disk.statfs}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("ballast off but the file stays: %v", err)
	}
}

func TestRealStatfs(t *testing.T) {
	t.Parallel()
	u, err := statfs(t.TempDir())
	if err != nil {
		t.Skipf("statfs: %v", err)
	}
	if u.Total <= 0 || u.Free < 0 || u.Free > u.Total {
		t.Fatalf("statfs = %+v", u)
	}
}

func TestRefusalsAreCounted(t *testing.T) {
	t.Parallel()
	g, disk, clock := newTestGuard(t, 10*mib, 0, prometheus.NewRegistry())
	disk.setOther(100 * mib)
	clock.add(DefaultMaxAge)
	for range 3 {
		_ = g.Admit()
	}
	if got := testutil.ToFloat64(g.m.refused); got != 3 {
		t.Fatalf("refused_total = %v, want 3", got)
	}
}

// TestAdmitReleasesTheBallast: a disk filled between two polls is noticed by the next Admit,
// which gives the ballast back at once instead of waiting for Run.
func TestAdmitReleasesTheBallast(t *testing.T) {
	t.Parallel()
	g, disk, clock := newTestGuard(t, 20*mib, 8*mib, nil)
	if st := g.Check(); st.Ballast != 8*mib {
		t.Fatalf("%+v", st)
	}
	disk.setOther(92 * mib) // the disk is full
	clock.add(DefaultMaxAge)
	if err := g.Admit(); !errors.Is(err, ErrInsufficientStorage) {
		t.Fatalf("Admit = %v", err)
	}
	if st := g.Status(); st.Ballast != 0 || st.Free != 8*mib {
		t.Fatalf("after Admit on a full disk: %+v, want the ballast released", st)
	}
}
