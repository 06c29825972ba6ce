package queue

import (
	"encoding/binary"
	"hash/fnv"
	"time"
)

// backoff is the delay before attempt n+1 after n failures (n >= 1):
// min(BackoffMax, BackoffInitial*2^(n-1)) scaled by a jitter factor in [0.8, 1.2).
// The jitter is derived from key and n (a hash, not a random source), so that retries of
// different recipients spread out while tests stay deterministic.
func (q *Queue) backoff(n int, key string) time.Duration {
	d := q.opts.BackoffInitial
	for i := 1; i < n && d < q.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, q.opts.BackoffMax)
	return time.Duration(float64(d) * jitter(key, n))
}

// jitter maps (key, n) to a factor in [0.8, 1.2).
func jitter(key string, n int) float64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	return 0.8 + 0.4*float64(h.Sum64()>>11)/float64(1<<53)
}
