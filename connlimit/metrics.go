package connlimit

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the collectors shared by the Limiters of one registry.
type Metrics struct {
	open    *prometheus.GaugeVec
	refused *prometheus.CounterVec
}

// NewMetrics makes the collectors and registers them when reg is not nil.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "multimail_listener_connections",
			Help: "Open connections admitted by the connection caps, by listener kind (smtp, imap, http).",
		}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_listener_connections_refused_total",
			Help: "Connections refused by the connection caps, by listener kind and reason (total, per_ip).",
		}, []string{"kind", "reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.open, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
