package ha

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Prometheus metrics of the lease and the snapshots, served by
// `trailhound run` at /metrics.
var (
	metricRole = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "trailhound_ha_role",
		Help: "1 for this instance's role in high availability (active: holds the lease; standby: waits for it), 0 for the other.",
	}, []string{"role"})
	metricEpoch = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "trailhound_ha_lease_epoch",
		Help: "Epoch of the lease this instance holds or last held.",
	})
	metricLeaseRenewals = promauto.NewCounter(prometheus.CounterOpts{
		Name: "trailhound_ha_lease_renewals_total",
		Help: "Lease renewals that succeeded.",
	})
	metricLeaseFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "trailhound_ha_lease_failures_total",
		Help: "Lease requests that failed (network, throttling, permissions); a lease lost to another instance is logged, not counted.",
	})
	metricSnapshotLast = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "trailhound_ha_snapshot_last_success_timestamp_seconds",
		Help: "Unix time of the last snapshot uploaded; snapshot age is time() minus this.",
	})
	metricSnapshotSize = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "trailhound_ha_snapshot_size_bytes",
		Help: "Compressed size of the last snapshot uploaded.",
	})
	metricSnapshotDBSize = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "trailhound_ha_snapshot_database_bytes",
		Help: "Size of the database copied by the last snapshot.",
	})
	metricSnapshotDuration = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "trailhound_ha_snapshot_duration_seconds",
		Help: "How long the last snapshot took, copy and upload.",
	})
	metricSnapshotFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "trailhound_ha_snapshot_failures_total",
		Help: "Snapshots that failed.",
	})
	_ = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trailhound_ha_snapshot_age_seconds",
		Help: "Seconds since the last snapshot uploaded by this instance (0 before the first).",
	}, snapshotAge)
)

// lastSnapshot is the Unix time in nanoseconds of the last snapshot
// uploaded, 0 before the first.
var lastSnapshot atomic.Int64

func snapshotAge() float64 {
	t := lastSnapshot.Load()
	if t == 0 {
		return 0
	}
	return time.Since(time.Unix(0, t)).Seconds()
}

// markSnapshot records a snapshot uploaded at t.
func markSnapshot(t time.Time) {
	lastSnapshot.Store(t.UnixNano())
	metricSnapshotLast.Set(float64(t.Unix()))
}

func setRole(active bool) {
	a, s := 0.0, 1.0
	if active {
		a, s = 1, 0
	}
	metricRole.WithLabelValues("active").Set(a)
	metricRole.WithLabelValues("standby").Set(s)
}
