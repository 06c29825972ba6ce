package submission

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Submitter's Prometheus collectors.
type metrics struct {
	accepted       *prometheus.CounterVec // by source and status
	refused        *prometheus.CounterVec // by reason
	signSeconds    prometheus.Histogram
	sentCopyErrors prometheus.Counter
	// oversight messages (copies, approval requests) queued and failed, by kind
	oversightSent, oversightErrors *prometheus.CounterVec
	// identity headers added at release, by release (or no_key, error)
	identity *prometheus.CounterVec
}

// newMetrics makes the collectors and registers them with reg when it is not nil.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_submission_accepted_total",
			Help: "Messages accepted into the queue, by source (smtp, api, mcp) and status.",
		}, []string{"source", "status"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_submission_refused_total",
			Help: "Submissions refused, by reason.",
		}, []string{"reason"}),
		signSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "multimail_submission_dkim_sign_seconds",
			Help:    "Time to DKIM-sign one message.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14),
		}),
		sentCopyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "multimail_submission_sent_copy_errors_total",
			Help: "Accepted messages whose copy to the Sent folder failed.",
		}),
		oversightSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_submission_oversight_messages_total",
			Help: "Oversight messages queued for an oversight_address, by kind (copy, approval_request).",
		}, []string{"kind"}),
		oversightErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_submission_oversight_errors_total",
			Help: "Oversight messages that could not be built or queued, by kind; the send stood.",
		}, []string{"kind"}),
		identity: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "multimail_submission_identity_total",
			Help: "Messages released with a Multimail-Identity header, by release; no_key: released without one (the domain has no identity key); error: not released.",
		}, []string{"release"}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.accepted, m.refused, m.signSeconds, m.sentCopyErrors, m.oversightSent, m.oversightErrors, m.identity}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("submission: register metrics"), err)
		}
	}
	return m, nil
}
