package anomaly

import (
	"strconv"
	"time"

	"github.com/trailhound/trailhound/sources"
)

// LearnCount feeds the baselines n events like ev, as an aggregate query
// counted them (`trailhound baseline` over Athena): the same principal,
// address, client, API and outcome, n times, at times spread evenly from
// ev.Time to last (the group's first and last event; one hour at most).
// First-seen sets, hour-of-day histograms and hourly rates learn exactly
// what the n events would have taught; the silence detector's gaps, which
// depend on the times between events, are learned at the spread times.
// Each copy gets an id derived from ev.ID, so that learning the same
// aggregate twice is caught like a repeated event. It returns how many
// copies were learned.
func (s *Suite) LearnCount(ev *sources.Event, n int, last time.Time) int {
	first := ev.Time
	span := time.Duration(0)
	if last.After(first) {
		span = last.Sub(first)
	}
	learned := 0
	for i := 0; i < n; i++ {
		c := *ev
		c.ID = ev.ID + "#" + strconv.Itoa(i)
		if n > 1 {
			c.Time = first.Add(time.Duration(int64(span) / int64(n-1) * int64(i)))
		}
		if s.Learn(&c) {
			learned++
		}
	}
	return learned
}
