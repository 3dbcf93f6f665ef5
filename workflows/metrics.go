package workflows

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/trailhound/trailhound/sources"
)

// Prometheus metrics of polls and deliveries, served by `trailhound run`
// at /metrics.
var (
	metricEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_events_read_total",
		Help: "Events read from log sources and handed to the detectors.",
	}, []string{"source"})
	metricSkipped = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_events_skipped_total",
		Help: "Events read again (overlap windows, restarts) and skipped because they were processed before.",
	}, []string{"source"})
	metricWarned = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_records_warned_total",
		Help: "Records read with warnings (a field left empty, or no usable time), by source; they are kept and judged.",
	}, []string{"source"})
	metricMalformed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_records_malformed_total",
		Help: "Input records that could not be read.",
	}, []string{"source"})
	metricFindings = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_findings_total",
		Help: "Findings raised by detectors, by rule and severity.",
	}, []string{"rule", "severity"})
	metricAlerts = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_alerts_total",
		Help: "Alerts created (new) and findings grouped into existing alerts (grouped).",
	}, []string{"kind"})
	metricPollErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_poll_errors_total",
		Help: "Failed polls by source and error class (throttled, transient, not found, unauthorized, invalid request, unknown).",
	}, []string{"source", "class"})
	metricPollSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "trailhound_poll_duration_seconds",
		Help:    "How long one poll of a source took, detection and storage included.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
	}, []string{"source"})
	metricLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "trailhound_source_lag_seconds",
		Help: "Age of the newest event read from a source at its last successful poll.",
	}, []string{"source"})
	metricLastSuccess = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "trailhound_source_last_success_timestamp_seconds",
		Help: "Unix time of a source's last successful poll.",
	}, []string{"source"})
	metricOutbox = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "trailhound_outbox_pending",
		Help: "Outbox items not yet delivered to every notifier, after the last dispatch.",
	})
	metricNotified = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_notifications_total",
		Help: "Notifications delivered or failed, by notifier, kind and result (ok, retry, failed).",
	}, []string{"notifier", "kind", "result"})
)

// observePoll records one poll in the metrics.
func observePoll(res *Result, fetchErr error, took time.Duration, lag time.Duration, now time.Time) {
	src := res.Source
	metricEvents.WithLabelValues(src).Add(float64(res.Events))
	metricSkipped.WithLabelValues(src).Add(float64(res.Skipped))
	metricMalformed.WithLabelValues(src).Add(float64(res.MalformedCount))
	metricWarned.WithLabelValues(src).Add(float64(res.WarningCount))
	metricPollSeconds.WithLabelValues(src).Observe(took.Seconds())
	metricAlerts.WithLabelValues("new").Add(float64(len(res.Ingest.New)))
	metricAlerts.WithLabelValues("grouped").Add(float64(res.Ingest.Folded))
	if fetchErr != nil {
		metricPollErrors.WithLabelValues(src, sources.Classify(fetchErr).String()).Inc()
		return
	}
	metricLastSuccess.WithLabelValues(src).Set(float64(now.Unix()))
	if lag > 0 {
		metricLag.WithLabelValues(src).Set(lag.Seconds())
	}
}
