package cloudwatch

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// Backfill modes: how FetchRange (scan --since, baseline) reads history.
const (
	// BackfillFilter pages through FilterLogEvents, as polls do.
	BackfillFilter = "filter"
	// BackfillInsights runs CloudWatch Logs Insights queries (StartQuery),
	// which scan long periods of large groups server-side.
	BackfillInsights = "insights"
)

// insightsLimit is the most rows one Logs Insights query returns.
const insightsLimit = 10000

// insightsQuery reads every field a log event needs, oldest first.
const insightsQuery = "fields @timestamp, @message, @logStream, @ptr | sort @timestamp asc | limit %d"

// queryGroup hands on the events of one log group in w through Logs
// Insights. A query returns at most insightsLimit rows, so a window that
// fills it is split in halves until each half fits (down to one second,
// below which the rows are handed on as they are, with a warning).
func (s *Source) queryGroup(ctx context.Context, group string, w sources.Window, sink sources.Sink) error {
	return s.queryGroupWith(ctx, group, w, fmt.Sprintf(insightsQuery, s.queryLimit), nil, sink)
}

// queryGroupWith is queryGroup with the query qs, which must select
// @timestamp, @message and @logStream and end in a limit of queryLimit
// rows; scanned, when not nil, is told the bytes each query scanned.
func (s *Source) queryGroupWith(ctx context.Context, group string, w sources.Window, qs string, scanned func(int64), sink sources.Sink) error {
	out, err := s.runQueryOutput(ctx, group, w, qs)
	if err != nil {
		return err
	}
	if scanned != nil {
		var n int64
		if out.Statistics != nil {
			n = int64(out.Statistics.BytesScanned)
		}
		scanned(n)
	}
	rows := out.Results
	if len(rows) >= s.queryLimit && w.End.Sub(w.Start) > time.Second {
		mid := w.Start.Add(w.End.Sub(w.Start) / 2)
		if err := s.queryGroupWith(ctx, group, sources.Window{Start: w.Start, End: mid}, qs, scanned, sink); err != nil {
			return err
		}
		return s.queryGroupWith(ctx, group, sources.Window{Start: mid, End: w.End}, qs, scanned, sink)
	}
	if len(rows) >= s.queryLimit {
		sink.Malformed(sources.Malformed{Where: group, Offset: -1, Reason: fmt.Sprintf("more than %d events in one second at %s: the rest of that second is not read", s.queryLimit, w.Start.Format(time.RFC3339))})
	}
	name := groupName(group)
	for _, row := range rows {
		f := map[string]string{}
		for _, c := range row {
			f[sdkaws.ToString(c.Field)] = sdkaws.ToString(c.Value)
		}
		at, err := insightsTime(f["@timestamp"])
		if err != nil {
			sink.Malformed(sources.Malformed{Where: group + " query row " + f["@ptr"], Offset: -1, Reason: err.Error()})
			continue
		}
		// Query windows are whole seconds; keep each event in exactly one
		// of the split windows.
		if at.Before(w.Start) || !at.Before(w.End) {
			continue
		}
		// Insights rows carry no event id: CloudTrail records keep their
		// own, other lines get one derived from group, stream, time and text.
		ev, err := sources.LogEvent("", strconv.FormatInt(at.UnixMilli(), 10), f["@message"], name, f["@logStream"], s.target.Account, s.name)
		if err != nil {
			sink.Malformed(sources.Malformed{Where: group + "/" + f["@logStream"] + " query row " + f["@ptr"], Offset: -1, Reason: err.Error()})
			continue
		}
		if ev.Region == "" {
			ev.Region = s.target.Region
		}
		if err := sink.Event(ctx, &ev); err != nil {
			return sinkError{err}
		}
	}
	return nil
}

// runQuery runs the Logs Insights query qs over w and waits for its rows.
func (s *Source) runQuery(ctx context.Context, group string, w sources.Window, qs string) ([][]types.ResultField, error) {
	out, err := s.runQueryOutput(ctx, group, w, qs)
	if err != nil {
		return nil, err
	}
	return out.Results, nil
}

// runQueryOutput runs the Logs Insights query qs over w and waits for it
// to complete: its rows and statistics.
func (s *Source) runQueryOutput(ctx context.Context, group string, w sources.Window, qs string) (*cloudwatchlogs.GetQueryResultsOutput, error) {
	in := &cloudwatchlogs.StartQueryInput{
		StartTime:   sdkaws.Int64(w.Start.Unix()),
		EndTime:     sdkaws.Int64(w.End.Add(time.Second - 1).Unix()),
		QueryString: sdkaws.String(qs),
	}
	if strings.HasPrefix(group, "arn:") {
		in.LogGroupIdentifiers = []string{strings.TrimSuffix(group, ":*")}
	} else {
		in.LogGroupName = sdkaws.String(group)
	}
	started, err := s.client.StartQuery(ctx, in)
	if err != nil {
		return nil, awssrc.Wrap(err, "cloudwatch: start query on %s", group)
	}
	id := sdkaws.ToString(started.QueryId)
	wait := s.queryPoll
	for {
		out, err := s.client.GetQueryResults(ctx, &cloudwatchlogs.GetQueryResultsInput{QueryId: sdkaws.String(id)})
		if err != nil {
			return nil, awssrc.Wrap(err, "cloudwatch: query results on %s", group)
		}
		switch out.Status {
		case types.QueryStatusComplete:
			return out, nil
		case types.QueryStatusFailed, types.QueryStatusCancelled, types.QueryStatusTimeout:
			return nil, sources.Classified(sources.ClassTransient, fmt.Errorf("cloudwatch: query on %s ended %s", group, out.Status))
		}
		select {
		case <-ctx.Done():
			_, _ = s.client.StopQuery(context.WithoutCancel(ctx), &cloudwatchlogs.StopQueryInput{QueryId: sdkaws.String(id)})
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// insightsTime parses @timestamp as Logs Insights returns it,
// "2006-01-02 15:04:05.000" in UTC, or as milliseconds since the epoch.
func insightsTime(v string) (time.Time, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse("2006-01-02 15:04:05.000", v)
	if err != nil {
		return time.Time{}, fmt.Errorf("@timestamp %q is neither a Logs Insights time nor milliseconds", v)
	}
	return t.UTC(), nil
}

// groupName is the log group's name, also for a group given by ARN.
func groupName(group string) string {
	if !strings.HasPrefix(group, "arn:") {
		return group
	}
	name := group[strings.Index(group, ":log-group:")+len(":log-group:"):]
	return strings.TrimSuffix(name, ":*")
}
