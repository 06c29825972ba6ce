package pgqueue

// metrics.go registers the Pebble queue's Prometheus metrics under the same names where they
// mean the same. Counters count what this node did (sum them over nodes); the gauges are of
// the shared queue, computed by one query on the database at each scrape (cheap: an index
// scan of mq_unit and a join on the pending units), so every node reports the same values.

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/queue"
)

// scrapeTimeout bounds the gauges' query.
const scrapeTimeout = 5 * time.Second

// metrics holds the queue's collectors.
type metrics struct {
	reg prometheus.Registerer
	all []prometheus.Collector
	queue.Counters
}

// registerMetrics creates the collectors and registers them on reg (nil: not registered).
func (q *Queue) registerMetrics(reg prometheus.Registerer) error {
	m := &metrics{reg: reg, Counters: queue.NewCounters()}
	m.all = append(m.Collectors(), &gauges{q: q})
	q.metrics = m
	if reg == nil {
		return nil
	}
	for i, c := range m.all {
		if err := reg.Register(c); err != nil {
			for _, r := range m.all[:i] {
				reg.Unregister(r)
			}
			return fmt.Errorf("pgqueue: register metrics: %w", err)
		}
	}
	return nil
}

func (q *Queue) unregisterMetrics() {
	if q.metrics == nil || q.metrics.reg == nil {
		return
	}
	for _, c := range q.metrics.all {
		q.metrics.reg.Unregister(c)
	}
}

func (q *Queue) countEnqueued(l queue.Lane) { q.metrics.Enqueued(l) }

// countOutcomes counts committed journal events.
func (q *Queue) countOutcomes(evs []queue.Event) {
	for _, ev := range evs {
		q.metrics.Outcome(ev.Type)
	}
}

var (
	depthDesc = prometheus.NewDesc("multimail_queue_depth",
		"Delivery units (message x domain) queued or leased, by lane.", []string{"lane"}, nil)
	oldestDesc = prometheus.NewDesc("multimail_queue_oldest_age_seconds",
		"Age of the oldest undelivered message.", nil, nil)
	deferredDesc = prometheus.NewDesc("multimail_queue_deferred",
		"Delivery units waiting for a retry after a deferral.", nil, nil)
)

// gauges computes the queue's gauges from the database at each scrape.
type gauges struct{ q *Queue }

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- oldestDesc
	ch <- deferredDesc
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var depth [3]int64
	var oldest float64
	var deferred int64
	err := g.q.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE lane = 0), count(*) FILTER (WHERE lane = 1), count(*) FILTER (WHERE lane = 2),
		coalesce(extract(epoch FROM now() - (SELECT min(m.queued_at) FROM mq_message m
			WHERE m.id IN (SELECT msg_id FROM mq_unit))), 0)::float8,
		count(*) FILTER (WHERE (lease_expires IS NULL OR lease_expires <= now()) AND EXISTS (SELECT 1 FROM mq_rcpt r
			WHERE r.msg_id = u.msg_id AND r.domain = u.domain AND r.status = 'deferred'))
		FROM mq_unit u`).Scan(&depth[0], &depth[1], &depth[2], &oldest, &deferred)
	if err != nil {
		g.q.log.Error("queue: metrics", "err", err)
		ch <- prometheus.NewInvalidMetric(depthDesc, err)
		return
	}
	for l := queue.LaneNormal; l <= queue.LaneLow; l++ {
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(depth[l]), l.String())
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, oldest)
	ch <- prometheus.MustNewConstMetric(deferredDesc, prometheus.GaugeValue, float64(deferred))
}
