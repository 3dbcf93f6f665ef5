package aws

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
)

// Polling says which time window each poll of a time-indexed API
// (LookupEvents, FilterLogEvents) reads.
type Polling struct {
	// Lag is how far each poll reaches back before the end of the previous
	// window, to catch events that arrive late: CloudTrail delivers
	// management events up to about 15 minutes after they happen. Events
	// read twice are dropped by event id. Default 15m.
	Lag configs.Duration `yaml:"lag"`
	// InitialLookback is how far back the first poll of a new source
	// reads. Default 1h.
	InitialLookback configs.Duration `yaml:"initial_lookback"`
	// MaxWindow caps the span one poll reads, so a source that was stopped
	// for days catches up in steps, storing each step's findings before
	// reading the next. Default 6h.
	MaxWindow configs.Duration `yaml:"max_window"`
}

// Defaults for Polling.
const (
	DefaultLag             = 15 * time.Minute
	DefaultInitialLookback = time.Hour
	DefaultMaxWindow       = 6 * time.Hour
)

// Validate checks the polling options against a retention limit (how far
// back the API can read; zero for none).
func (p *Polling) Validate(sec configs.Section, retention time.Duration) error {
	if p.Lag == 0 {
		p.Lag = configs.Duration(DefaultLag)
	}
	if p.InitialLookback == 0 {
		p.InitialLookback = configs.Duration(DefaultInitialLookback)
	}
	if p.MaxWindow == 0 {
		p.MaxWindow = configs.Duration(DefaultMaxWindow)
	}
	if p.MaxWindow.D() < time.Minute {
		return sec.Errorf("max_window", "must be at least 1m")
	}
	if p.Lag.D() >= p.MaxWindow.D() {
		return sec.Errorf("lag", "must be shorter than max_window (%s)", p.MaxWindow.D())
	}
	if retention > 0 && p.InitialLookback.D() > retention {
		return sec.Errorf("initial_lookback", "must not exceed %s, how far back the API can read", retention)
	}
	return nil
}

// Mark is the checkpoint of one time-indexed stream: the end of the last
// window read.
type Mark struct {
	End time.Time `json:"end"`
}

// Next returns the window of the next poll after a previous window that
// ended at prev (zero for none) at now: from prev minus the lag (or now
// minus the initial lookback), to now, at most MaxWindow long. An
// earliest time (the API's retention) clamps the start.
func (p Polling) Next(prev, now, earliest time.Time) sources.Window {
	var start time.Time
	if prev.IsZero() {
		start = now.Add(-p.InitialLookback.D())
	} else {
		start = prev.Add(-p.Lag.D())
	}
	if !earliest.IsZero() && start.Before(earliest) {
		start = earliest
	}
	if start.After(now) {
		start = now
	}
	end := now
	if max := p.MaxWindow.D(); max > 0 && end.Sub(start) > max {
		end = start.Add(max)
	}
	return sources.Window{Start: start, End: end}
}

// Rereads answers sources.Rereader for a source with one stream (mark
// "") polled by p and selecting events by time: the next poll reaches
// back the lag before the end of the last window read, or, before the
// first poll, the initial lookback before now (read from the clock only
// then). A corrupt checkpoint may read anything again.
func (p Polling) Rereads(cp []byte, now func() time.Time) (since time.Time, again bool) {
	c, err := ParseCheckpoint(cp)
	if err != nil {
		return time.Time{}, true
	}
	if end := c.Marks[""].End; !end.IsZero() {
		return end.Add(-p.Lag.D()), true
	}
	return now().UTC().Add(-p.InitialLookback.D()), true
}

// checkpointVersion is bumped when the layout of checkpoints changes.
const checkpointVersion = 1

// Checkpoint is the checkpoint layout every AWS source stores: marks by
// stream (a log group; "" for a source with one stream) plus whatever the
// source needs besides (queue receipts, listing positions), as raw JSON.
type Checkpoint struct {
	V     int             `json:"v"`
	Marks map[string]Mark `json:"marks,omitempty"`
	Extra json.RawMessage `json:"extra,omitempty"`
}

// ParseCheckpoint reads a stored checkpoint; nil gives an empty one.
func ParseCheckpoint(b []byte) (Checkpoint, error) {
	cp := Checkpoint{V: checkpointVersion, Marks: map[string]Mark{}}
	if len(b) == 0 {
		return cp, nil
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("checkpoint is corrupt: %w", err)
	}
	if cp.V != checkpointVersion {
		return cp, fmt.Errorf("checkpoint has version %d, want %d", cp.V, checkpointVersion)
	}
	if cp.Marks == nil {
		cp.Marks = map[string]Mark{}
	}
	return cp, nil
}

// Bytes encodes the checkpoint.
func (c Checkpoint) Bytes() []byte {
	c.V = checkpointVersion
	b, _ := json.Marshal(c)
	return b
}
