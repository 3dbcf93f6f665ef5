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

// FuncSink adapts two functions to a Sink.
type FuncSink struct {
	OnEvent     func(ctx context.Context, ev *Event) error
	OnMalformed func(m Malformed)
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
	}
	_, err := s.src.Fetch(ctx, nil, filter)
	return nil, err
}
