// Package cloudtrail is a log source that reads CloudTrail management
// events through the LookupEvents API, one account and region per source,
// paced to the API's quota of two requests per second.
package cloudtrail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// Retention is how far back LookupEvents reads: 90 days.
const Retention = 90 * 24 * time.Hour

// maxBuffered is how many events one slice of a window may hold before it
// is split in two. LookupEvents returns the newest events first; a slice is
// buffered and handed on oldest first, so detectors see time order.
const maxBuffered = 5000

// Options configure a CloudTrail LookupEvents source.
type Options struct {
	awssrc.Options `yaml:",inline"`
	awssrc.Polling `yaml:",inline"`
	// LookupAttribute narrows the events server-side to one attribute
	// value (the API allows one), for example ReadOnly=false to read only
	// changes.
	LookupAttribute *Attribute `yaml:"lookup_attribute"`
}

// Attribute is a LookupEvents lookup attribute.
type Attribute struct {
	// Key is EventId, EventName, ReadOnly, Username, ResourceType,
	// ResourceName, EventSource or AccessKeyId.
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// Validate checks the options and fills in defaults.
func (o *Options) Validate(sec configs.Section) error {
	if err := o.Options.Validate(sec); err != nil {
		return err
	}
	if err := o.Polling.Validate(sec, Retention); err != nil {
		return err
	}
	if a := o.LookupAttribute; a != nil {
		ok := false
		for _, k := range types.LookupAttributeKey("").Values() {
			if string(k) == a.Key {
				ok = true
			}
		}
		if !ok {
			return sec.Errorf("lookup_attribute.key", "%q is not one of %v", a.Key, types.LookupAttributeKey("").Values())
		}
		if a.Value == "" {
			return sec.Errorf("lookup_attribute.value", "is required")
		}
	}
	return nil
}

// Source reads one account and region's CloudTrail events.
type Source struct {
	name   string
	target awssrc.Target
	client *cloudtrail.Client
	poll   awssrc.Polling
	attrs  []types.LookupAttribute
	// Now is the clock; tests replace it.
	Now func() time.Time
	// maxBuffered overrides the package constant in tests.
	maxBuffered int
}

// Build validates the options and returns one source per account and
// region, named base/account/region.
func Build(ctx context.Context, base string, opts Options, sec configs.Section) ([]sources.Source, error) {
	if err := opts.Validate(sec); err != nil {
		return nil, err
	}
	return opts.EachTarget(ctx, base, sec, func(name string, t awssrc.Target) sources.Source { return New(name, t, opts) })
}

// New returns a source reading the target's events. opts must have been
// validated.
func New(name string, t awssrc.Target, opts Options) *Source {
	limiter := t.Limiter("cloudtrail.LookupEvents", awssrc.LookupEventsRPS)
	client := cloudtrail.NewFromConfig(t.Config, func(o *cloudtrail.Options) {
		o.APIOptions = append(o.APIOptions, awssrc.Paced(limiter))
	})
	s := &Source{name: name, target: t, client: client, poll: opts.Polling, Now: time.Now, maxBuffered: maxBuffered}
	if a := opts.LookupAttribute; a != nil {
		s.attrs = []types.LookupAttribute{{AttributeKey: types.LookupAttributeKey(a.Key), AttributeValue: sdkaws.String(a.Value)}}
	}
	return s
}

// Name implements sources.Source.
func (s *Source) Name() string { return s.name }

// Fetch reads the events from the end of the previous window, less the
// lag, to now (at most max_window), oldest first.
func (s *Source) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	c, err := awssrc.ParseCheckpoint(cp)
	if err != nil {
		return nil, fmt.Errorf("cloudtrail: %w", err)
	}
	now := s.Now().UTC()
	w := s.poll.Next(c.Marks[""].End, now, now.Add(-Retention))
	if err := s.read(ctx, w, sink); err != nil {
		return nil, err
	}
	c.Marks[""] = awssrc.Mark{End: w.End}
	return c.Bytes(), nil
}

// Rereads implements sources.Rereader: the next poll reaches back the lag
// before the end of the last window read (LookupEvents selects by event
// time), or, before the first poll, the initial lookback before now.
func (s *Source) Rereads(cp []byte) (since time.Time, again bool) {
	return s.poll.Rereads(cp, s.Now)
}

// FetchRange implements sources.Ranger: it reads the events of w, oldest
// first. A zero end means now.
func (s *Source) FetchRange(ctx context.Context, w sources.Window, sink sources.Sink) error {
	now := s.Now().UTC()
	if w.End.IsZero() || w.End.After(now) {
		w.End = now
	}
	if earliest := now.Add(-Retention); w.Start.Before(earliest) {
		w.Start = earliest
	}
	return s.read(ctx, w, sink)
}

// errSplit says a slice held too many events to buffer.
var errSplit = errors.New("slice too large")

// read hands on the events of w oldest first, splitting w in halves while
// a half holds more than maxBuffered events.
func (s *Source) read(ctx context.Context, w sources.Window, sink sources.Sink) error {
	buf, err := s.collect(ctx, w, sink)
	if errors.Is(err, errSplit) && w.End.Sub(w.Start) > 2*time.Second {
		mid := w.Start.Add(w.End.Sub(w.Start) / 2).Truncate(time.Second)
		if err := s.read(ctx, sources.Window{Start: w.Start, End: mid}, sink); err != nil {
			return err
		}
		// Both ends are inclusive and times are whole seconds.
		return s.read(ctx, sources.Window{Start: mid.Add(time.Second), End: w.End}, sink)
	}
	if err != nil && !errors.Is(err, errSplit) {
		return err
	}
	for i := len(buf) - 1; i >= 0; i-- {
		if err := sink.Event(ctx, &buf[i]); err != nil {
			return err
		}
	}
	return nil
}

// collect reads every page of w, newest first. It stops with errSplit
// (and what it has) once more than maxBuffered events are held.
func (s *Source) collect(ctx context.Context, w sources.Window, sink sources.Sink) ([]sources.Event, error) {
	in := &cloudtrail.LookupEventsInput{
		StartTime:        sdkaws.Time(w.Start),
		EndTime:          sdkaws.Time(w.End),
		LookupAttributes: s.attrs,
		MaxResults:       sdkaws.Int32(50),
	}
	var buf []sources.Event
	pages := cloudtrail.NewLookupEventsPaginator(s.client, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, awssrc.Wrap(err, "cloudtrail: lookup events")
		}
		for _, e := range out.Events {
			ev, ok := s.event(e, sink)
			if ok {
				buf = append(buf, ev)
			}
		}
		if len(buf) > s.maxBuffered {
			return buf, errSplit
		}
	}
	return buf, nil
}

// event turns one LookupEvents result into an Event, reporting it as
// malformed when its CloudTrailEvent record cannot be read.
func (s *Source) event(e types.Event, sink sources.Sink) (sources.Event, bool) {
	id := sdkaws.ToString(e.EventId)
	where := s.where() + " event " + id
	if e.CloudTrailEvent == nil || *e.CloudTrailEvent == "" {
		sink.Malformed(sources.Malformed{Where: where, Offset: -1, Reason: "no CloudTrailEvent record"})
		return sources.Event{}, false
	}
	raw := []byte(*e.CloudTrailEvent)
	if len(raw) > sources.MaxRecordBytes {
		sink.Malformed(sources.Malformed{Where: where, Offset: -1, Reason: fmt.Sprintf("record longer than %d bytes", sources.MaxRecordBytes)})
		return sources.Event{}, false
	}
	ev, err := sources.Normalize(raw, s.name)
	if err != nil {
		sink.Malformed(sources.Malformed{Where: where, Offset: -1, Reason: err.Error()})
		return sources.Event{}, false
	}
	if id != "" && strings.HasPrefix(ev.ID, "synthetic-") {
		// The record lacks eventID; the API's own id is as stable.
		ev.ID = id
	}
	if ev.Time.IsZero() && e.EventTime != nil {
		// The record's eventTime was unusable; the API's is as good.
		ev.Time = e.EventTime.UTC()
	}
	if ev.Region == "" {
		ev.Region = s.target.Region
	}
	if ev.Account == "" {
		ev.Account = s.target.Account
	}
	return ev, true
}

func (s *Source) where() string {
	if s.target.Account != "" {
		return "account " + s.target.Account + " " + s.target.Region
	}
	return s.target.Region
}
