package webhook

import "github.com/prometheus/client_golang/prometheus"

// metrics are the dispatcher's Prometheus collectors.
type metrics struct {
	deliveries *prometheus.CounterVec // acknowledged (2xx) deliveries per endpoint
	failures   *prometheus.CounterVec // failed attempts per endpoint
	dropped    *prometheus.CounterVec // entries for endpoints no longer configured
	lag        prometheus.Histogram   // event time -> acknowledged delivery
	attempt    prometheus.Histogram   // duration of one HTTP attempt
	inflight   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_webhook_deliveries_total",
			Help: "Webhook events acknowledged with a 2xx by the endpoint.",
		}, []string{"endpoint"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_webhook_failures_total",
			Help: "Webhook delivery attempts that failed (non-2xx, timeout or connection error).",
		}, []string{"endpoint"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_webhook_dropped_total",
			Help: "Outbox entries dropped because their endpoint is no longer configured.",
		}, []string{"endpoint"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "multimail_webhook_lag_seconds",
			Help:    "Time from an event to its acknowledged webhook delivery.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400},
		}),
		attempt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "multimail_webhook_attempt_seconds",
			Help:    "Duration of one webhook HTTP attempt.",
			Buckets: prometheus.DefBuckets,
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "multimail_webhook_inflight",
			Help: "Webhook attempts in flight.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.failures, m.dropped, m.lag, m.attempt, m.inflight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
