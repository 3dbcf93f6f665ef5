package main

import (
	"context"
	"fmt"
	"io"

	"github.com/trailhound/trailhound/detectors/anomaly"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/athena"
)

// learnAggregates learns the window of an Athena source from one
// aggregate query, a row per group of like events in an hour instead of a
// row per event, and says what it read and scanned on w. It returns the
// events the rows counted.
func learnAggregates(ctx context.Context, w io.Writer, src *athena.Source, win sources.Window, suite *anomaly.Suite, malformed func(sources.Malformed)) (int, error) {
	events, rows := 0, 0
	st, err := src.Aggregates(ctx, win, func(ag athena.Aggregate) error {
		rows++
		events += ag.Count
		suite.LearnCount(&ag.Event, ag.Count, ag.Last)
		return ctx.Err()
	}, malformed)
	fmt.Fprintf(w, "%s: %s counted in %s of one Athena aggregate query, %s scanned\n",
		src.Name(), plural(events, "event"), plural(rows, "row"), sources.FormatBytes(st.BytesScanned))
	return events, err
}
