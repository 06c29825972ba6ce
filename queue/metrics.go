package queue

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the queue's Prometheus collectors. Gauges read the in-memory index.
type metrics struct {
	reg prometheus.Registerer
	all []prometheus.Collector
	Counters
}

// Counters are the queue's two counters, with the same names on every backend (queue/pgqueue
// uses them too): messages enqueued by lane and journal events written by type.
type Counters struct {
	enqueued *prometheus.CounterVec
	outcomes *prometheus.CounterVec
}

// NewCounters makes the counters (not registered).
func NewCounters() Counters {
	return Counters{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_queue_enqueued_total", Help: "Messages enqueued, by lane.",
		}, []string{"lane"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_queue_outcomes_total", Help: "Journal events written, by event type.",
		}, []string{"event"}),
	}
}

// Collectors are the counters, to register.
func (c Counters) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.enqueued, c.outcomes}
}

// Enqueued counts a message enqueued in lane l.
func (c Counters) Enqueued(l Lane) { c.enqueued.WithLabelValues(l.String()).Inc() }

// Outcome counts a journal event of type t.
func (c Counters) Outcome(t EventType) { c.outcomes.WithLabelValues(string(t)).Inc() }

// registerMetrics creates the collectors and registers them on reg (nil: not registered).
func (q *Queue) registerMetrics(reg prometheus.Registerer) error {
	m := &metrics{reg: reg, Counters: NewCounters()}
	m.all = append(m.all, m.Collectors()...)
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

func (q *Queue) countEnqueued(l Lane) { q.metrics.Enqueued(l) }

func (q *Queue) countOutcome(t EventType) { q.metrics.Outcome(t) }
