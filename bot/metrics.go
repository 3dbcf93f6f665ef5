package bot

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var metricRequests = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "trailhound_chat_requests_total",
	Help: "Chat commands and card actions by platform, request and result (ok, refused, rejected, error).",
}, []string{"platform", "request", "result"})

// observeRequest counts one command or action with its outcome.
func observeRequest(platform, request string, r Reply) {
	result := "ok"
	switch {
	case r.Refused:
		result = "refused"
	case r.Failed != "":
		result = r.Failed
	}
	metricRequests.WithLabelValues(platform, request, result).Inc()
}
