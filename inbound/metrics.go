package inbound

import "github.com/prometheus/client_golang/prometheus"

// metrics are the inbound listener's Prometheus collectors.
type metrics struct {
	sessions   prometheus.Gauge
	recipients *prometheus.CounterVec // outcome: local, bounce, relay_denied, unknown_user, error
	messages   *prometheus.CounterVec // outcome: delivered, quarantined, dsn, rejected, error
	auth       *prometheus.CounterVec // method, result
}

// newMetrics makes the collectors and registers them when reg is not nil.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "multimail_inbound_sessions", Help: "Open inbound SMTP sessions."}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_inbound_recipients_total", Help: "RCPT TO commands by outcome."},
			[]string{"outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_inbound_messages_total", Help: "Inbound messages by outcome."},
			[]string{"outcome"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_inbound_auth_results_total", Help: "SPF, DKIM and DMARC results."},
			[]string{"method", "result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sessions, m.recipients, m.messages, m.auth} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe counts the results of one message's checks.
func (m *metrics) observe(v verdict) {
	m.auth.WithLabelValues("spf", string(v.spf)).Inc()
	if len(v.dkim) == 0 {
		m.auth.WithLabelValues("dkim", "none").Inc()
	}
	for _, d := range v.dkim {
		m.auth.WithLabelValues("dkim", string(d.result)).Inc()
	}
	m.auth.WithLabelValues("dmarc", string(v.dmarc.result)).Inc()
}
