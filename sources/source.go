package sources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Malformed describes one input record that could not be read. Sources
// report it and carry on with the next record.
type Malformed struct {
	// Where names the input: a file path, log group or S3 key.
	Where string
	// Offset is the byte offset of the record in the input, -1 if unknown.
	Offset int64
	// Line is the 1-based line number, 0 if unknown.
	Line int
	// Reason says what was wrong.
	Reason string
}

// String formats the problem for a log line or terminal.
func (m Malformed) String() string {
	loc := m.Where
	if m.Line > 0 {
		loc += fmt.Sprintf(":%d", m.Line)
	}
	if m.Offset >= 0 {
		loc += fmt.Sprintf(" (offset %d)", m.Offset)
	}
	return loc + ": " + m.Reason
}

// Sink receives what a source reads.
type Sink interface {
	// Event is called for each event, in the order the source read them.
	// An event with Warnings was read from a record with unusable fields
	// and kept; sinks count it (Health.Warnings) and judge it like any
	// other. An error stops the source, which returns it.
	Event(ctx context.Context, ev *Event) error
	// Malformed is called for each record that could not be read.
	Malformed(m Malformed)
}

// Window is the span of time a poll covers.
type Window struct {
	Start, End time.Time
}

// Contains reports whether an event at t belongs in the window: at or
// after Start and before End, a zero bound being open. A zero t, an event
// whose time is unknown, is in every window, so that a record with an
// unreadable time is judged rather than dropped.
func (w Window) Contains(t time.Time) bool {
	if t.IsZero() {
		return true
	}
	return (w.Start.IsZero() || !t.Before(w.Start)) && (w.End.IsZero() || t.Before(w.End))
}

// Source reads events. Fetch reads what is new since the checkpoint (nil
// the first time) and returns the checkpoint to store once the findings of
// the read events are safely stored. A source may read some events again
// (overlap for late arrivals); callers dedup by event ID. When only part
// of the source could be read, Fetch returns a *PartialError carrying the
// checkpoint of the parts that were read; errors that retrying will not
// fix are classified (see Classified and IsPermanent).
type Source interface {
	Name() string
	Fetch(ctx context.Context, checkpoint []byte, sink Sink) (next []byte, err error)
}

// ScanSink is implemented by sinks that count what a source's queries
// scanned server-side (Athena bills by bytes scanned), for source health
// and digests.
type ScanSink interface {
	// Scanned is called once per query with the bytes it scanned, also
	// for a query that failed or was cancelled part-way.
	Scanned(bytes int64)
}

// ReportScanned tells sink, when it is a ScanSink, that a query scanned
// bytes.
func ReportScanned(sink Sink, bytes int64) {
	if s, ok := sink.(ScanSink); ok {
		s.Scanned(bytes)
	}
}

// ProgressSink is implemented by sinks that take a source's resume point
// while it reads. A source that can resume part-way through its input
// calls Progress once, before its first event, with a function returning
// the checkpoint from which a later Fetch carries on just after the last
// event handed to Event so far: nothing before it is read again. The
// function may be called only during a call to Event (after the sink has
// handled the event) or after Fetch returns. A poller that commits this
// checkpoint together with what it made of those events needs no record
// of them to survive a crash.
type ProgressSink interface {
	Progress(resume func() []byte)
}

// Rereader is implemented by sources that know which events they may read
// again, like a window source reaching back by its lag for late arrivals.
// Rereads reports which events a Fetch from checkpoint cp, or from any
// checkpoint a later Fetch returns, may hand over again after handing them
// over before: none (again false), those whose Time is at or after since,
// or any (since zero). A poller keeps the IDs of processed events only
// for those. A source without Rereader may read anything again.
type Rereader interface {
	Rereads(cp []byte) (since time.Time, again bool)
}

// FuncSink adapts two functions to a Sink, and optionally others to a
// ScanSink and a ProgressSink.
type FuncSink struct {
	OnEvent     func(ctx context.Context, ev *Event) error
	OnMalformed func(m Malformed)
	OnScanned   func(bytes int64)
	OnProgress  func(resume func() []byte)
}

// Progress implements ProgressSink.
func (s FuncSink) Progress(resume func() []byte) {
	if s.OnProgress != nil {
		s.OnProgress(resume)
	}
}

// Scanned implements ScanSink.
func (s FuncSink) Scanned(bytes int64) {
	if s.OnScanned != nil {
		s.OnScanned(bytes)
	}
}

// Event implements Sink.
func (s FuncSink) Event(ctx context.Context, ev *Event) error {
	if s.OnEvent == nil {
		return nil
	}
	return s.OnEvent(ctx, ev)
}

// Malformed implements Sink.
func (s FuncSink) Malformed(m Malformed) {
	if s.OnMalformed != nil {
		s.OnMalformed(m)
	}
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

// Ranger is implemented by sources that can read an explicit time range,
// for one-shot scans and baseline learning (`trailhound scan --since`,
// `trailhound baseline --since`). Sources without it are read whole and
// their events filtered by time.
type Ranger interface {
	FetchRange(ctx context.Context, w Window, sink Sink) error
}

// InWindow returns a source that reads only events within w: through
// FetchRange when src is a Ranger, otherwise by reading src whole and
// dropping events outside w. Events without a time (a CloudTrail record
// whose eventTime is unreadable, see Event.Warnings) cannot be placed and
// are kept. Its checkpoint is always nil.
func InWindow(src Source, w Window) Source { return windowed{src, w} }

type windowed struct {
	src Source
	w   Window
}

func (s windowed) Name() string { return s.src.Name() }

func (s windowed) Fetch(ctx context.Context, _ []byte, sink Sink) ([]byte, error) {
	if r, ok := s.src.(Ranger); ok {
		return nil, r.FetchRange(ctx, s.w, sink)
	}
	filter := FuncSink{
		OnEvent: func(ctx context.Context, ev *Event) error {
			if !s.w.Contains(ev.Time) {
				return nil
			}
			return sink.Event(ctx, ev)
		},
		OnMalformed: sink.Malformed,
		OnScanned:   func(n int64) { ReportScanned(sink, n) },
	}
	_, err := s.src.Fetch(ctx, nil, filter)
	return nil, err
}
