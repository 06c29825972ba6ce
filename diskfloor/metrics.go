package diskfloor

import "github.com/prometheus/client_golang/prometheus"

// metrics are the guard's Prometheus collectors.
type metrics struct {
	free    prometheus.Gauge
	floor   prometheus.Gauge
	below   prometheus.Gauge
	ballast prometheus.Gauge
	refused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		free: prometheus.NewGauge(prometheus.GaugeOpts{Name: "multimail_storage_free_bytes",
			Help: "Bytes available on the data directory's filesystem."}),
		floor: prometheus.NewGauge(prometheus.GaugeOpts{Name: "multimail_storage_min_free_bytes",
			Help: "The free-space floor under which new mail is refused (0: none)."}),
		below: prometheus.NewGauge(prometheus.GaugeOpts{Name: "multimail_storage_below_floor",
			Help: "1 while free space is below the floor and new mail is refused."}),
		ballast: prometheus.NewGauge(prometheus.GaugeOpts{Name: "multimail_storage_ballast_bytes",
			Help: "Bytes the ballast file holds now (0 when released or off)."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "multimail_storage_refused_total",
			Help: "Intake attempts refused because free space was below the floor."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.free, m.floor, m.below, m.ballast, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) set(st Status) {
	m.free.Set(float64(st.Free))
	m.floor.Set(float64(st.MinFree))
	m.ballast.Set(float64(st.Ballast))
	if st.Below {
		m.below.Set(1)
	} else {
		m.below.Set(0)
	}
}
