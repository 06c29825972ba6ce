package dnsclient

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the cache's and the transport's counters.
type metrics struct {
	hits, misses, evictions prometheus.Counter
	upstream                *prometheus.CounterVec // exchanges with a server, by result
	entries                 prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, c *cache) (*metrics, error) {
	m := &metrics{
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "multimail_dns_cache_hits_total",
			Help: "DNS questions answered from the cache.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "multimail_dns_cache_misses_total",
			Help: "DNS questions not in the cache (coalesced ones included).",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "multimail_dns_cache_evictions_total",
			Help: "Live cache entries evicted to stay within the size bound.",
		}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_dns_upstream_queries_total",
			Help: "Exchanges with a DNS server, by result (answer, rcode = a failing rcode, error).",
		}, []string{"result"}),
		entries: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "multimail_dns_cache_entries",
			Help: "Entries in the DNS cache.",
		}, func() float64 {
			if c == nil {
				return 0
			}
			return float64(c.len())
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.hits, m.misses, m.evictions, m.upstream, m.entries} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("dnsclient: register metrics: %w", err)
		}
	}
	return m, nil
}
