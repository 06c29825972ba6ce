package queue

import "time"

// Depth is the number of delivery units (one message to one domain) of lane that are
// scheduled or leased.
func (q *Queue) Depth(l Lane) int {
	if !l.valid() {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.s.depth[l] + q.s.leased[l]
}

// OldestAge is the age of the oldest message with a unit still scheduled or leased
// (0 when the queue is empty).
func (q *Queue) OldestAge() time.Duration {
	q.mu.Lock()
	sec, ok := q.s.ages.oldest()
	q.mu.Unlock()
	if !ok {
		return 0
	}
	return max(q.now().Sub(time.Unix(sec, 0)), 0)
}

// DeferredCount is the number of scheduled units waiting for a retry.
func (q *Queue) DeferredCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.s.deferred
}
