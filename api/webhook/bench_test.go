package webhook

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// BenchmarkWebhookLag measures the time from an event's commit in the queue to its
// acknowledged delivery to an always-OK endpoint on loopback (outbox read, signing, HTTP,
// ack), as the multimail_webhook_lag_seconds histogram records it. Each op is one message with
// three events (queued, delivered x2). Run: go test -run XXX -bench Lag ./api/webhook/
func BenchmarkWebhookLag(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	q := openQueue(b)
	reg := runDispatcher(b, q, srv.URL, Options{})
	b.ResetTimer()
	produce(b, q, b.N)
	waitForWithin(b, "all events", 30*time.Second+time.Duration(b.N)*10*time.Millisecond,
		func() bool { return got.Load() >= int64(3*b.N) })
	b.StopTimer()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "multimail_webhook_lag_seconds" {
			continue
		}
		h := mf.Metric[0].GetHistogram()
		b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount())*1000, "ms-mean-lag")
		b.ReportMetric(bucketBound(h, 0.99)*1000, "ms-p99-lag-bound")
	}
}

// bucketBound is the upper bound of the histogram bucket holding quantile q.
func bucketBound(h *dto.Histogram, q float64) float64 {
	want := uint64(q * float64(h.GetSampleCount()))
	for _, bk := range h.GetBucket() {
		if bk.GetCumulativeCount() >= want {
			return bk.GetUpperBound()
		}
	}
	return -1
}
