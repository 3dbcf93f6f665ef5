package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/trailhound/trailhound/sources"
)

// LimitSuffix is what FetchRangeQuery appends to a query: the row limit
// of one Logs Insights query. A query passed in must leave room for it
// under StartQuery's 10,000 characters.
const LimitSuffix = "\n| limit 10000"

// ownLimit matches a query that ends in its own limit command.
var ownLimit = regexp.MustCompile(`(?i)\|\s*limit\s+\d+\s*$`)

// plainLinesGuard is what WithPlainLines puts before a query's filter.
const plainLinesGuard = "not ispresent(eventVersion) or "

// PlainLinesExtra is how much longer WithPlainLines makes a query.
const PlainLinesExtra = len(plainLinesGuard) + len("()")

// WithPlainLines widens the filter of a Logs Insights query compiled for
// CloudTrail records (pushdown.InsightsQuery, whose conditions are over
// CloudTrail's fields, and false for rules on plain log lines) so that it
// also keeps every event that is not a CloudTrail record: the lines
// without a top-level eventVersion, which the source hands on as plain
// lines (sources.LogEvent). A query without a filter is returned as is.
func WithPlainLines(query string) string {
	const at = "\n| filter "
	i := strings.Index(query, at)
	if i < 0 {
		return query
	}
	rest := query[i+len(at):]
	cond, tail := rest, ""
	if j := strings.Index(rest, "\n|"); j >= 0 {
		cond, tail = rest[:j], rest[j:]
	}
	return query[:i] + at + plainLinesGuard + "(" + cond + ")" + tail
}

// FetchRangeQuery reads every log group over w through Logs Insights,
// running qs (a query such as pushdown.InsightsQuery builds: it selects
// @timestamp, @message and @logStream, filters and sorts, with no limit)
// per group and window, split until each query returns fewer rows than
// the limit, as the insights backfill does. The filter only narrows what
// is read: callers judge every event they get. scanned, when not nil, is
// told the bytes each query scanned (its GetQueryResults statistics).
func (s *Source) FetchRangeQuery(ctx context.Context, w sources.Window, qs string, scanned func(bytes int64), sink sources.Sink) error {
	if ownLimit.MatchString(qs) {
		return errors.New("cloudwatch: range query: the query ends in its own limit; the row limit is added per query")
	}
	if w.End.IsZero() {
		w.End = s.Now().UTC()
	}
	qs += fmt.Sprintf("\n| limit %d", s.queryLimit)
	groups, errs := s.resolve(ctx)
	for _, g := range groups {
		if err := s.queryGroupWith(ctx, g, w, qs, scanned, sink); err != nil {
			var se sinkError
			if errors.As(err, &se) {
				return se.error
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
