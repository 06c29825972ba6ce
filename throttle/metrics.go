// metrics.go: the Prometheus collectors of a Limiter.
package throttle

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count failures and refusals per door and show the tables' sizes.
type metrics struct {
	failures  *prometheus.CounterVec // wrong secrets, by door
	throttled *prometheus.CounterVec // attempts refused without checking the secret, by door
}

func newMetrics(reg prometheus.Registerer, sizes func() (clients, accounts int)) (*metrics, error) {
	m := &metrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_auth_failures_total",
			Help: "Failed logins (wrong password or API key), by door (imap, smtp, http).",
		}, []string{"door"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_auth_throttled_total",
			Help: "Login attempts refused by the failed-login throttle without checking the secret, by door.",
		}, []string{"door"}),
	}
	if reg == nil {
		return m, nil
	}
	clients := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "multimail_auth_throttle_clients",
		Help: "Clients (IPv4 addresses, IPv6 /64s) with failed logins being tracked.",
	}, func() float64 { c, _ := sizes(); return float64(c) })
	accounts := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "multimail_auth_throttle_accounts",
		Help: "Accounts with failed logins being tracked.",
	}, func() float64 { _, a := sizes(); return float64(a) })
	for _, c := range []prometheus.Collector{m.failures, m.throttled, clients, accounts} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("throttle: register metrics"), err)
		}
	}
	return m, nil
}
