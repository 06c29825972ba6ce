package imapserver

import "github.com/prometheus/client_golang/prometheus"

// metrics are the server's Prometheus collectors.
type metrics struct {
	conns    prometheus.Gauge       // open connections
	logins   *prometheus.CounterVec // login attempts by result: ok, failed, limit, throttled
	commands *prometheus.CounterVec // store-backed operations by name
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "multimail_imap_connections",
			Help: "Open IMAP connections.",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_imap_logins_total",
			Help: "IMAP login attempts by result (ok, failed, limit, throttled).",
		}, []string{"result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_imap_commands_total",
			Help: "IMAP commands served by the store, by command.",
		}, []string{"command"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.conns, m.logins, m.commands} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
