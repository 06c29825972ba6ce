package queue

// sched.go is the in-memory index of the schedule (famSched): a cache rebuilt on Open, so that
// picking work is O(log n) and never scans Pebble. Per domain and lane a min-heap of units
// ordered by due time; per lane a heap of the domains that may be served now (under their
// concurrency cap and not backing off), ordered by their earliest unit. A blocked domain is
// simply absent from the lane heaps, so it never holds up other domains. All methods need
// Queue.mu.

import "container/heap"

// unit is one schedulable (message, domain) pair, 32 bytes in memory.
type unit struct {
	due   int64 // unix ns
	id    ulid
	retry bool // schedFlagRetry
}

func (a unit) less(b unit) bool {
	if a.due != b.due {
		return a.due < b.due
	}
	return string(a.id[:]) < string(b.id[:])
}

// unitHeap is a min-heap of units by (due, id).
type unitHeap []unit

func (h unitHeap) Len() int           { return len(h) }
func (h unitHeap) Less(i, j int) bool { return h[i].less(h[j]) }
func (h unitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *unitHeap) Push(x any)        { *h = append(*h, x.(unit)) }
func (h *unitHeap) Pop() any {
	old := *h
	u := old[len(old)-1]
	*h = old[:len(old)-1]
	if cap(*h) > 64 && len(*h) < cap(*h)/4 { // give memory back after a burst
		*h = append(unitHeap(nil), *h...)
	}
	return u
}

// domainState is the in-memory state of one recipient domain.
type domainState struct {
	name       string
	inflight   int
	failures   int   // consecutive connection-level failures
	until      int64 // backoff until (unix ns)
	backingOff bool  // until is in the future and the domain sits in the backoff heap
	q          [numLanes]unitHeap
	pos        [numLanes]int // index in sched.lanes[l], -1 when absent
	bpos       int           // index in sched.backoff, -1 when absent
}

// laneHeap orders servable domains by their earliest unit in one lane.
type laneHeap struct {
	lane Lane
	ds   []*domainState
}

func (h *laneHeap) Len() int { return len(h.ds) }
func (h *laneHeap) Less(i, j int) bool {
	return h.ds[i].q[h.lane][0].less(h.ds[j].q[h.lane][0])
}
func (h *laneHeap) Swap(i, j int) {
	h.ds[i], h.ds[j] = h.ds[j], h.ds[i]
	h.ds[i].pos[h.lane], h.ds[j].pos[h.lane] = i, j
}
func (h *laneHeap) Push(x any) {
	d := x.(*domainState)
	d.pos[h.lane] = len(h.ds)
	h.ds = append(h.ds, d)
}
func (h *laneHeap) Pop() any {
	d := h.ds[len(h.ds)-1]
	h.ds = h.ds[:len(h.ds)-1]
	d.pos[h.lane] = -1
	return d
}

// backoffHeap orders backing-off domains by the end of their backoff.
type backoffHeap []*domainState

func (h backoffHeap) Len() int           { return len(h) }
func (h backoffHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h backoffHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].bpos, h[j].bpos = i, j
}
func (h *backoffHeap) Push(x any) {
	d := x.(*domainState)
	d.bpos = len(*h)
	*h = append(*h, d)
}
func (h *backoffHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	d.bpos = -1
	return d
}

// unitRef names a unit wherever it is.
type unitRef struct {
	lane   Lane
	due    int64
	id     ulid
	domain string
}

// sched is the in-memory schedule.
type sched struct {
	cap      int // per-domain concurrency
	domains  map[string]*domainState
	lanes    [numLanes]*laneHeap
	backoff  backoffHeap
	canceled map[unitRef]struct{} // units removed from Pebble but still in a heap
	depth    [numLanes]int        // scheduled units (not leased)
	leased   [numLanes]int
	deferred int // scheduled units with the retry flag
	ages     ageTracker
	picks    uint64 // bulk picks, for the low-lane starvation guard
}

func newSched(perDomain int) *sched {
	s := &sched{cap: perDomain, domains: map[string]*domainState{}, canceled: map[unitRef]struct{}{}}
	for l := range s.lanes {
		s.lanes[l] = &laneHeap{lane: Lane(l)}
	}
	s.ages.counts = map[int64]int{}
	return s
}

func (s *sched) domain(name string) *domainState {
	d := s.domains[name]
	if d == nil {
		d = &domainState{name: name, pos: [numLanes]int{-1, -1, -1}, bpos: -1}
		s.domains[name] = d
	}
	return d
}

func (d *domainState) blocked(cap int) bool { return d.inflight >= cap || d.backingOff }

func (d *domainState) idle() bool {
	return d.inflight == 0 && !d.backingOff && d.failures == 0 &&
		len(d.q[0])+len(d.q[1])+len(d.q[2]) == 0
}

// add puts a unit into the index.
func (s *sched) add(lane Lane, domain string, u unit) {
	d := s.domain(domain)
	heap.Push(&d.q[lane], u)
	s.depth[lane]++
	if u.retry {
		s.deferred++
	}
	s.place(d, lane)
}

// place puts d into (or re-orders it in) lane's heap when it is servable there.
func (s *sched) place(d *domainState, lane Lane) {
	h := s.lanes[lane]
	switch {
	case d.blocked(s.cap) || len(d.q[lane]) == 0:
		if d.pos[lane] >= 0 {
			heap.Remove(h, d.pos[lane])
		}
	case d.pos[lane] >= 0:
		heap.Fix(h, d.pos[lane])
	default:
		heap.Push(h, d)
	}
}

func (s *sched) placeAll(d *domainState) {
	for l := Lane(0); l < numLanes; l++ {
		s.place(d, l)
	}
}

// cancel marks a unit deleted from Pebble; it is dropped when it reaches the head.
func (s *sched) cancel(r unitRef, retry bool) {
	s.canceled[r] = struct{}{}
	s.depth[r.lane]--
	if retry {
		s.deferred--
	}
}

// uncancel undoes cancel for a unit that pick had already taken (pick counted it).
func (s *sched) uncancel(r unitRef, retry bool) bool {
	if _, ok := s.canceled[r]; !ok {
		return false
	}
	delete(s.canceled, r)
	s.depth[r.lane]++
	if retry {
		s.deferred++
	}
	return true
}

// picked is a unit taken out of the index for leasing.
type picked struct {
	lane Lane
	d    *domainState
	u    unit
}

func (p picked) ref() unitRef { return unitRef{p.lane, p.u.due, p.u.id, p.d.name} }

// pickLane takes the earliest due unit of lane from a servable domain.
func (s *sched) pickLane(lane Lane, now int64) (picked, bool) {
	h := s.lanes[lane]
	for h.Len() > 0 {
		d := h.ds[0]
		if d.q[lane][0].due > now {
			return picked{}, false
		}
		u := heap.Pop(&d.q[lane]).(unit)
		ref := unitRef{lane, u.due, u.id, d.name}
		if _, gone := s.canceled[ref]; gone {
			delete(s.canceled, ref)
			s.place(d, lane)
			s.forget(d)
			continue
		}
		s.depth[lane]--
		s.leased[lane]++
		if u.retry {
			s.deferred--
		}
		d.inflight++
		s.placeAll(d)
		return picked{lane, d, u}, true
	}
	return picked{}, false
}

// due reports whether lane has a unit due now in a servable domain.
func (s *sched) due(lane Lane, now int64) bool {
	h := s.lanes[lane]
	return h.Len() > 0 && h.ds[0].q[lane][0].due <= now
}

// pick serves lanes in the order given, except that every lowEvery-th bulk pick tries
// LaneLow before LaneNormal (never before LaneHigh) when low has due work.
func (s *sched) pick(lanes []Lane, now int64, lowEvery int) (picked, bool) {
	order := lanes
	if s.guardLow(lanes, now, lowEvery) {
		order = lowFirst(lanes)
	}
	for _, l := range order {
		if p, ok := s.pickLane(l, now); ok {
			if l != LaneHigh {
				s.picks++
			}
			return p, true
		}
	}
	return picked{}, false
}

func (s *sched) guardLow(lanes []Lane, now int64, lowEvery int) bool {
	if lowEvery <= 0 || (s.picks+1)%uint64(lowEvery) != 0 || !s.due(LaneLow, now) {
		return false
	}
	hasLow, hasNormal := false, false
	for _, l := range lanes {
		hasLow = hasLow || l == LaneLow
		hasNormal = hasNormal || l == LaneNormal
	}
	return hasLow && hasNormal
}

// lowFirst returns lanes with LaneLow moved just before LaneNormal.
func lowFirst(lanes []Lane) []Lane {
	out := make([]Lane, 0, len(lanes))
	for _, l := range lanes {
		if l == LaneNormal {
			out = append(out, LaneLow)
		}
		if l != LaneLow {
			out = append(out, l)
		}
	}
	return out
}

// release ends a lease of d in lane.
func (s *sched) release(d *domainState, lane Lane) {
	d.inflight--
	s.leased[lane]--
	s.placeAll(d)
	s.forget(d)
}

// forget drops an idle domain so the map does not grow without bound.
func (s *sched) forget(d *domainState) {
	if d.idle() {
		delete(s.domains, d.name)
	}
}

// setBackoff blocks d until until (unix ns); until <= now clears it.
func (s *sched) setBackoff(d *domainState, failures int, until, now int64) {
	d.failures, d.until = failures, until
	wasOff := d.backingOff
	d.backingOff = until > now
	switch {
	case d.backingOff && d.bpos >= 0:
		heap.Fix(&s.backoff, d.bpos)
	case d.backingOff:
		heap.Push(&s.backoff, d)
	case d.bpos >= 0:
		heap.Remove(&s.backoff, d.bpos)
	}
	if wasOff != d.backingOff {
		s.placeAll(d)
	}
}

// expireBackoffs unblocks domains whose backoff ended; reports whether any did.
func (s *sched) expireBackoffs(now int64) bool {
	any := false
	for len(s.backoff) > 0 && s.backoff[0].until <= now {
		d := heap.Pop(&s.backoff).(*domainState)
		d.backingOff = false
		s.placeAll(d)
		any = true
	}
	return any
}

// nextWake is the earliest future time at which something may become servable (0 = none).
func (s *sched) nextWake(now int64) int64 {
	var w int64
	consider := func(t int64) {
		if t > now && (w == 0 || t < w) {
			w = t
		}
	}
	for _, h := range s.lanes {
		if h.Len() > 0 {
			consider(h.ds[0].q[h.lane][0].due)
		}
	}
	if len(s.backoff) > 0 {
		consider(s.backoff[0].until)
	}
	return w
}

// ageTracker counts live units by their message's enqueue second, for the oldest-age gauge.
type ageTracker struct {
	counts map[int64]int
	secs   int64Heap
}

func (a *ageTracker) add(sec int64) {
	if a.counts[sec] == 0 {
		heap.Push(&a.secs, sec)
	}
	a.counts[sec]++
}

func (a *ageTracker) remove(sec int64) {
	if a.counts[sec] <= 1 {
		delete(a.counts, sec)
		return
	}
	a.counts[sec]--
}

// oldest returns the oldest live second, if any.
func (a *ageTracker) oldest() (int64, bool) {
	for len(a.secs) > 0 {
		if a.counts[a.secs[0]] > 0 {
			return a.secs[0], true
		}
		heap.Pop(&a.secs)
	}
	return 0, false
}

type int64Heap []int64

func (h int64Heap) Len() int           { return len(h) }
func (h int64Heap) Less(i, j int) bool { return h[i] < h[j] }
func (h int64Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *int64Heap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *int64Heap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}
