package bot

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/time/rate"
)

var (
	metricQueued = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "trailhound_chat_api_queued",
		Help: "Chat API calls waiting for their channel's budget, by platform.",
	}, []string{"platform"})
	metricCoalesced = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_chat_updates_coalesced_total",
		Help: "Message redraws merged into another redraw of the same message (or skipped as already shown), by platform.",
	}, []string{"platform"})
)

// Default per-channel budgets: Slack allows about one message a second
// per channel, Discord five per five seconds.
const (
	DefaultChannelInterval = time.Second
	DefaultChannelBurst    = 4
)

// Budget spaces a platform's API calls per channel, so one busy alert
// cannot spend the rate limit every other alert needs: each channel may
// make Burst calls at once, then one every Interval. Calls over budget
// wait in a queue whose length is the gauge trailhound_chat_api_queued.
type Budget struct {
	platform string
	every    time.Duration
	burst    int

	mu       sync.Mutex
	channels map[string]*channelBudget
	queued   prometheus.Gauge
}

type channelBudget struct {
	lim  *rate.Limiter
	used time.Time
}

// NewBudget returns a budget for a platform ("slack", "discord"). A zero
// interval or burst takes the default.
func NewBudget(platform string, every time.Duration, burst int) *Budget {
	if every <= 0 {
		every = DefaultChannelInterval
	}
	if burst <= 0 {
		burst = DefaultChannelBurst
	}
	return &Budget{platform: platform, every: every, burst: burst, channels: map[string]*channelBudget{}, queued: metricQueued.WithLabelValues(platform)}
}

// Wait blocks until the channel may make one more call, or ctx ends. An
// empty channel (a call that posts nowhere in particular) never waits.
func (b *Budget) Wait(ctx context.Context, channel string) error {
	if b == nil || channel == "" {
		return nil
	}
	now := time.Now()
	b.mu.Lock()
	c := b.channels[channel]
	if c == nil {
		if len(b.channels) >= 10000 {
			for k, v := range b.channels {
				if now.Sub(v.used) > time.Hour {
					delete(b.channels, k)
				}
			}
		}
		c = &channelBudget{lim: rate.NewLimiter(rate.Every(b.every), b.burst)}
		b.channels[channel] = c
	}
	c.used = now
	b.mu.Unlock()
	r := c.lim.Reserve()
	wait := r.Delay()
	if wait == 0 {
		return nil
	}
	b.queued.Inc()
	defer b.queued.Dec()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}
