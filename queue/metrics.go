package queue

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the queue's Prometheus collectors. Gauges read the in-memory index.
type metrics struct {
	reg      prometheus.Registerer
	all      []prometheus.Collector
	enqueued *prometheus.CounterVec
	outcomes *prometheus.CounterVec
}

// registerMetrics creates the collectors and registers them on reg (nil: not registered).
func (q *Queue) registerMetrics(reg prometheus.Registerer) error {
	m := &metrics{
		reg: reg,
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_queue_enqueued_total", Help: "Messages enqueued, by lane.",
		}, []string{"lane"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_queue_outcomes_total", Help: "Journal events written, by event type.",
		}, []string{"event"}),
	}
	m.all = append(m.all, m.enqueued, m.outcomes)
	for l := Lane(0); l < numLanes; l++ {
		m.all = append(m.all, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "multimail_queue_depth", Help: "Delivery units (message x domain) queued or leased, by lane.",
			ConstLabels: prometheus.Labels{"lane": l.String()},
		}, func() float64 { return float64(q.Depth(l)) }))
	}
	m.all = append(m.all,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "multimail_queue_oldest_age_seconds", Help: "Age of the oldest undelivered message.",
		}, func() float64 { return q.OldestAge().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "multimail_queue_deferred", Help: "Delivery units waiting for a retry after a deferral.",
		}, func() float64 { return float64(q.DeferredCount()) }),
	)
	q.metrics = m
	if reg == nil {
		return nil
	}
	for i, c := range m.all {
		if err := reg.Register(c); err != nil {
			for _, r := range m.all[:i] {
				reg.Unregister(r)
			}
			return fmt.Errorf("queue: register metrics: %w", err)
		}
	}
	return nil
}

func (q *Queue) unregisterMetrics() {
	if q.metrics.reg == nil {
		return
	}
	for _, c := range q.metrics.all {
		q.metrics.reg.Unregister(c)
	}
}

func (q *Queue) countEnqueued(l Lane) { q.metrics.enqueued.WithLabelValues(l.String()).Inc() }

func (q *Queue) countOutcome(t EventType) { q.metrics.outcomes.WithLabelValues(string(t)).Inc() }
