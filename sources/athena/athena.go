// Package athena is a log source that reads CloudTrail records from the
// trail's S3 files through Amazon Athena: each poll runs one query over the
// window since the checkpoint, narrowed to the events the enabled rules
// can match (the pushed-down condition), and reads the rows back as
// CloudTrail records, which the detectors judge again in-process; with
// counting on (SetCounting), one aggregate query more feeds the anomaly
// detectors. What each query scans, and so costs, is capped and reported.
package athena

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

const (
	// defaultQueryTimeout bounds how long a query may be queued or run.
	defaultQueryTimeout = 10 * time.Minute
	// minQueryTimeout is the smallest query_timeout accepted.
	minQueryTimeout = 10 * time.Second
	// firstWait is the first pause between two GetQueryExecution calls;
	// it doubles up to maxWait.
	firstWait = 250 * time.Millisecond
	maxWait   = 5 * time.Second
	// pageSize is GetQueryResults' largest page.
	pageSize = 1000
	// athenaRPS paces the source's Athena calls; Athena's quotas are 20
	// StartQueryExecution and 100 GetQueryExecution calls per second.
	athenaRPS = 20
)

// Stats is what Athena says about one finished (or stopped) query.
type Stats struct {
	// ID is the query execution id, to find it in the Athena console.
	ID string
	// BytesScanned is Statistics.DataScannedInBytes, what Athena bills.
	BytesScanned int64
	// Rows counts the data rows read back.
	Rows int
}

// Source reads CloudTrail records from one Athena table.
type Source struct {
	name      string
	target    awssrc.Target
	client    *athena.Client
	poll      awssrc.Polling
	table     Table
	catalog   string
	workgroup string
	output    string
	maxBytes  int64
	timeout   time.Duration

	mu       sync.Mutex
	cond     string
	counting bool

	// Now is the clock; tests replace it.
	Now func() time.Time
	// firstWait and maxWait pace GetQueryExecution; tests shorten them.
	firstWait, maxWait time.Duration
	// pageSize is how many rows one GetQueryResults call asks for.
	pageSize int32
}

// Build validates the options and returns the source, named base. The
// table may cover many accounts and regions; queries run in the one
// region the options name.
func Build(ctx context.Context, base string, opts Options, sec configs.Section) ([]sources.Source, error) {
	if err := opts.Validate(sec); err != nil {
		return nil, err
	}
	targets, err := opts.Targets(ctx)
	if err != nil {
		return nil, sec.Errorf("", "%v", err)
	}
	return []sources.Source{New(base, targets[0], opts)}, nil
}

// New returns a source querying through the target's account and region.
// opts must have been validated.
func New(name string, t awssrc.Target, opts Options) *Source {
	limiter := t.Limiter("athena", athenaRPS)
	client := athena.NewFromConfig(t.Config, func(o *athena.Options) {
		o.APIOptions = append(o.APIOptions, awssrc.Paced(limiter))
	})
	return &Source{
		name: name, target: t, client: client, poll: opts.Polling,
		table: Table{
			Catalog: opts.Catalog, Database: opts.Database, Table: opts.Table, Layout: opts.Layout,
			Accounts: opts.PartitionAccounts, Regions: opts.PartitionRegions,
		},
		catalog: opts.Catalog, workgroup: opts.Workgroup, output: opts.OutputLocation,
		maxBytes: opts.MaxBytesScanned, timeout: opts.QueryTimeout.D(),
		Now: time.Now, firstWait: firstWait, maxWait: maxWait, pageSize: pageSize,
	}
}

// Name implements sources.Source.
func (s *Source) Name() string { return s.name }

// Table returns the table the source queries.
func (s *Source) Table() Table { return s.table }

// SetCondition sets the pushed-down condition every events query adds to
// its window: a boolean Trino expression over the CloudTrail table's
// columns that holds for every event an enabled detector may fire on
// (coarser is fine: the detectors judge every row again). Empty reads
// every event.
func (s *Source) SetCondition(cond string) {
	s.mu.Lock()
	s.cond = cond
	s.mu.Unlock()
}

// SetCounting turns per-poll aggregate queries on or off. On, each poll
// runs two queries: the events query with the pushed-down condition,
// whose events are marked Counted (the counting detectors skip them), and
// one aggregate query over the window, grouped as for `trailhound
// baseline`, whose groups are handed on as events with a Tally for the
// counting (anomaly) detectors. The condition then need not hold for
// every event those detectors judge.
func (s *Source) SetCounting(on bool) {
	s.mu.Lock()
	s.counting = on
	s.mu.Unlock()
}

// Counting reports whether polls run aggregate queries.
func (s *Source) Counting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counting
}

// Condition returns the pushed-down condition.
func (s *Source) Condition() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cond
}

// Fetch runs one query for the window from the end of the previous one,
// less the lag, to now (at most max_window), and hands on its rows oldest
// first; with counting on (SetCounting), the rows marked Counted, then
// the window's aggregate groups.
func (s *Source) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	c, err := awssrc.ParseCheckpoint(cp)
	if err != nil {
		return nil, fmt.Errorf("athena: %w", err)
	}
	now := s.Now().UTC().Truncate(time.Second)
	w := s.poll.Next(c.Marks[""].End, now, time.Time{})
	counting := s.Counting()
	if counting {
		sink = countedSink{sink}
	}
	if err := s.read(ctx, w, s.Condition(), sink); err != nil {
		return nil, err
	}
	if counting {
		if err := s.count(ctx, w, sink.(countedSink).Sink); err != nil {
			return nil, err
		}
	}
	c.Marks[""] = awssrc.Mark{End: w.End}
	return c.Bytes(), nil
}

// Rereads implements sources.Rereader: the next poll reaches back the lag
// before the end of the last window read (the query selects by event
// time), or, before the first poll, the initial lookback before now.
func (s *Source) Rereads(cp []byte) (since time.Time, again bool) {
	return s.poll.Rereads(cp, s.Now)
}

// FetchRange implements sources.Ranger: one query over w (a zero end
// being now), with the pushed-down condition.
func (s *Source) FetchRange(ctx context.Context, w sources.Window, sink sources.Sink) error {
	return s.FetchRangeWhere(ctx, w, s.Condition(), sink)
}

// FetchRangeWhere reads the events of w for which cond holds (a boolean
// Trino expression; empty for every event), as FetchRange does. A
// backtest passes the condition of the rules it tries.
func (s *Source) FetchRangeWhere(ctx context.Context, w sources.Window, cond string, sink sources.Sink) error {
	now := s.Now().UTC()
	if w.End.IsZero() || w.End.After(now) {
		w.End = now
	}
	w.Start, w.End = w.Start.UTC().Truncate(time.Second), w.End.UTC().Add(time.Second-1).Truncate(time.Second)
	return s.read(ctx, w, cond, sink)
}

// read runs the events query of w and hands its rows to sink.
func (s *Source) read(ctx context.Context, w sources.Window, cond string, sink sources.Sink) error {
	q := s.table.EventsQuery(w, cond)
	n := 0
	st, err := s.Run(ctx, q, func(row map[string]*string) error {
		n++
		return s.event(ctx, row, n, w, sink)
	})
	if st.ID != "" {
		// The query ran, if only part-way: what it scanned is billed.
		sources.ReportScanned(sink, st.BytesScanned)
	}
	return err
}

// countedSink marks each event it passes on as Counted: its source also
// counts it in an aggregate.
type countedSink struct{ sources.Sink }

func (c countedSink) Event(ctx context.Context, ev *sources.Event) error {
	ev.Counted = true
	return c.Sink.Event(ctx, ev)
}

// Scanned passes on what a query scanned, when the sink counts it.
func (c countedSink) Scanned(n int64) { sources.ReportScanned(c.Sink, n) }

// sinkError marks an error returned by the sink, which is passed on as it
// is.
type sinkError struct{ error }

func (e sinkError) Unwrap() error { return e.error }

// event hands one row to sink as an Event, or reports it malformed.
func (s *Source) event(ctx context.Context, row map[string]*string, n int, w sources.Window, sink sources.Sink) error {
	where := fmt.Sprintf("athena %s.%s row %d", s.table.Database, s.table.Table, n)
	raw, err := record(row)
	if err != nil {
		sink.Malformed(sources.Malformed{Where: where, Offset: -1, Reason: err.Error()})
		return nil
	}
	if len(raw) > sources.MaxRecordBytes {
		sink.Malformed(sources.Malformed{Where: where, Offset: -1, Reason: fmt.Sprintf("record longer than %d bytes", sources.MaxRecordBytes)})
		return nil
	}
	ev, err := sources.Normalize(raw, s.name)
	if err != nil {
		sink.Malformed(sources.Malformed{Where: where, Offset: -1, Reason: err.Error()})
		return nil
	}
	if !w.Contains(ev.Time) {
		// The query bounds eventtime as text; a time written another way
		// may compare differently. Keep each event in its own window.
		return nil
	}
	if err := sink.Event(ctx, &ev); err != nil {
		return sinkError{err}
	}
	return nil
}

// Run starts query, waits for it to finish and hands each data row to
// each, by column name (a missing name is SQL NULL), page by page. The
// query is stopped when ctx ends, when it runs past the query timeout and
// when it scans more than the byte cap. The returned Stats hold what it
// scanned, also when it failed.
func (s *Source) Run(ctx context.Context, query string, each func(row map[string]*string) error) (Stats, error) {
	in := &athena.StartQueryExecutionInput{
		QueryString:           sdkaws.String(query),
		QueryExecutionContext: &types.QueryExecutionContext{Catalog: sdkaws.String(s.catalog), Database: sdkaws.String(s.table.Database)},
		WorkGroup:             sdkaws.String(s.workgroup),
	}
	if s.output != "" {
		in.ResultConfiguration = &types.ResultConfiguration{OutputLocation: sdkaws.String(s.output)}
	}
	out, err := s.client.StartQueryExecution(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return Stats{}, ctx.Err()
		}
		return Stats{}, awssrc.Wrap(err, "athena: start query")
	}
	st := Stats{ID: sdkaws.ToString(out.QueryExecutionId)}
	if err := s.wait(ctx, &st); err != nil {
		return st, err
	}
	err = s.results(ctx, &st, each)
	var se sinkError
	if errors.As(err, &se) {
		return st, se.error
	}
	return st, err
}

// wait polls GetQueryExecution with backoff until the query succeeds,
// and fails, classified, when it fails, is cancelled, scans too much or
// takes too long.
func (s *Source) wait(ctx context.Context, st *Stats) error {
	deadline := s.Now().Add(s.timeout)
	pause := s.firstWait
	id := sdkaws.String(st.ID)
	for {
		out, err := s.client.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: id})
		if err != nil {
			if ctx.Err() != nil {
				s.stop(ctx, st.ID)
				return ctx.Err()
			}
			return awssrc.Wrap(err, "athena: query %s state", st.ID)
		}
		qe := out.QueryExecution
		var status types.QueryExecutionStatus
		if qe != nil && qe.Status != nil {
			status = *qe.Status
		}
		if qe != nil && qe.Statistics != nil {
			st.BytesScanned = sdkaws.ToInt64(qe.Statistics.DataScannedInBytes)
		}
		switch status.State {
		case types.QueryExecutionStateSucceeded:
			return nil
		case types.QueryExecutionStateFailed:
			return failed(st, status)
		case types.QueryExecutionStateCancelled:
			return cancelled(st, status)
		}
		if st.BytesScanned > s.maxBytes {
			s.stop(ctx, st.ID)
			return sources.Classified(sources.ClassInvalid, fmt.Errorf("athena: query %s stopped after scanning %s, over max_bytes_scanned (%s): narrow the window or partitions, or raise the cap",
				st.ID, sources.FormatBytes(st.BytesScanned), sources.FormatBytes(s.maxBytes)))
		}
		if !s.Now().Before(deadline) {
			s.stop(ctx, st.ID)
			return sources.Classified(sources.ClassTransient, fmt.Errorf("athena: query %s still %s after %s (query_timeout): stopped", st.ID, status.State, s.timeout))
		}
		select {
		case <-ctx.Done():
			s.stop(ctx, st.ID)
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, s.maxWait)
	}
}

// stop asks Athena to stop a query, beyond the caller's cancelled
// context, so an abandoned query does not go on scanning at our cost.
func (s *Source) stop(ctx context.Context, id string) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = s.client.StopQueryExecution(sctx, &athena.StopQueryExecutionInput{QueryExecutionId: sdkaws.String(id)})
}

// failed is the error of a FAILED query, classified by Athena's own
// error category: a user error (bad SQL, missing table, denied S3
// access) is permanent, a system error transient.
func failed(st *Stats, status types.QueryExecutionStatus) error {
	reason := sdkaws.ToString(status.StateChangeReason)
	class := sources.ClassTransient
	if e := status.AthenaError; e != nil {
		if e.ErrorMessage != nil && reason == "" {
			reason = *e.ErrorMessage
		}
		if e.ErrorCategory != nil && *e.ErrorCategory == 2 && !e.Retryable {
			class = sources.ClassInvalid
		}
	}
	if strings.Contains(strings.ToLower(reason), "access denied") {
		class = sources.ClassUnauthorized
	}
	if reason == "" {
		reason = "no reason given"
	}
	return sources.Classified(class, fmt.Errorf("athena: query %s failed: %s", st.ID, reason))
}

// cancelled is the error of a query cancelled by someone else, or by the
// workgroup's own cap on bytes scanned (which retrying will not fix).
func cancelled(st *Stats, status types.QueryExecutionStatus) error {
	reason := sdkaws.ToString(status.StateChangeReason)
	if strings.Contains(strings.ToLower(reason), "bytes scanned limit") {
		return sources.Classified(sources.ClassInvalid, fmt.Errorf("athena: query %s was cancelled by the workgroup's bytes-scanned cutoff after %s: %s", st.ID, sources.FormatBytes(st.BytesScanned), reason))
	}
	if reason == "" {
		reason = "cancelled outside trailhound"
	}
	return sources.Classified(sources.ClassTransient, fmt.Errorf("athena: query %s was cancelled: %s", st.ID, reason))
}

// results pages through GetQueryResults, skipping the header row Athena
// puts first on the first page of a SELECT.
func (s *Source) results(ctx context.Context, st *Stats, each func(row map[string]*string) error) error {
	pages := athena.NewGetQueryResultsPaginator(s.client, &athena.GetQueryResultsInput{
		QueryExecutionId: sdkaws.String(st.ID), MaxResults: sdkaws.Int32(s.pageSize),
	})
	var names []string
	first := true
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return awssrc.Wrap(err, "athena: query %s results", st.ID)
		}
		if out.ResultSet == nil {
			continue
		}
		if md := out.ResultSet.ResultSetMetadata; md != nil && len(md.ColumnInfo) > 0 {
			names = names[:0]
			for _, c := range md.ColumnInfo {
				names = append(names, sdkaws.ToString(c.Name))
			}
		}
		rows := out.ResultSet.Rows
		if first && len(rows) > 0 && isHeader(rows[0], names) {
			rows = rows[1:]
		}
		first = false
		for _, r := range rows {
			if len(r.Data) != len(names) {
				return sources.Classified(sources.ClassTransient, fmt.Errorf("athena: query %s results: a row has %d values for %d columns", st.ID, len(r.Data), len(names)))
			}
			row := make(map[string]*string, len(names))
			for i, d := range r.Data {
				if d.VarCharValue != nil {
					row[names[i]] = d.VarCharValue
				}
			}
			st.Rows++
			if err := each(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// isHeader reports whether a row holds the column names themselves.
func isHeader(r types.Row, names []string) bool {
	if len(r.Data) != len(names) || len(names) == 0 {
		return false
	}
	for i, d := range r.Data {
		if sdkaws.ToString(d.VarCharValue) != names[i] {
			return false
		}
	}
	return true
}
