package mta

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/queue"
)

// metrics are the delivery counters; they exist even when nothing registers them.
type metrics struct {
	deliveries *prometheus.CounterVec   // per recipient, by outcome
	seconds    *prometheus.HistogramVec // per attempt, by lane
	conns      *prometheus.CounterVec   // sessions used, by reused
	dsns       *prometheus.CounterVec   // DSNs, by result
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_mta_deliveries_total",
			Help: "Recipient delivery attempts by outcome (delivered, deferred, bounced).",
		}, []string{"outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "multimail_mta_delivery_seconds",
			Help:    "Time of one delivery attempt (one lease: route, connect, transaction).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"lane"}),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_mta_connections_total",
			Help: "SMTP sessions used for a transaction, by whether they were reused from the pool.",
		}, []string{"reused"}),
		dsns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_mta_dsn_total",
			Help: "Delivery status notifications generated, by result (sent, error, dropped).",
		}, []string{"result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.seconds, m.conns, m.dsns} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("mta: register metrics: %w", err)
		}
	}
	return m, nil
}

func outcomeLabel(o queue.Outcome) string {
	switch o {
	case queue.Delivered:
		return "delivered"
	case queue.Deferred:
		return "deferred"
	case queue.Bounced:
		return "bounced"
	}
	return "unknown"
}
