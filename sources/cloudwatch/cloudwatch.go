// Package cloudwatch is a log source that reads CloudWatch Logs log groups
// with FilterLogEvents: a trail's log group (CloudTrail records become
// CloudTrail events), VPC flow logs, API Gateway, ALB/WAF and application
// logs (plain lines). Each log group keeps its own position, so a missing
// or denied group does not hold back the others.
package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// MaxFilterPattern is the longest filter pattern CloudWatch Logs accepts.
const MaxFilterPattern = 1024

// DeriveFilterPattern is the filter_pattern value that asks for the
// pattern to be derived from the enabled rules (detectors/rules/pushdown):
// the caller sets it with SetFilterPattern before the first poll. A JSON
// pattern keeps only JSON records, so it suits groups of CloudTrail
// records, not groups of plain lines.
const DeriveFilterPattern = "rules"

// Options configure a CloudWatch Logs source.
type Options struct {
	awssrc.Options `yaml:",inline"`
	awssrc.Polling `yaml:",inline"`
	// LogGroups are log group names, or ARNs for groups shared through
	// cross-account observability.
	LogGroups []string `yaml:"log_groups"`
	// LogGroupPrefixes add every log group whose name starts with one of
	// them, listed with DescribeLogGroups on each poll.
	LogGroupPrefixes []string `yaml:"log_group_prefixes"`
	// FilterPattern is sent to FilterLogEvents so only matching events
	// leave AWS, e.g. { $.eventSource = "iam.amazonaws.com" }, or
	// DeriveFilterPattern ("rules") to derive it from the enabled rules.
	FilterPattern string `yaml:"filter_pattern"`
	// Match builds a JSON filter pattern instead: every field (a JSON path
	// without "$.") must have one of its values. Only for groups of JSON
	// records, such as a trail's.
	Match map[string][]string `yaml:"match"`
	// Backfill says how history is read for `scan --since` and `baseline`:
	// "filter" (FilterLogEvents, the default) or "insights" (Logs
	// Insights queries, faster over long periods of large groups; the
	// filter pattern does not apply to them).
	Backfill string `yaml:"backfill"`
}

// Validate checks the options, fills in defaults and compiles Match.
func (o *Options) Validate(sec configs.Section) error {
	if err := o.Options.Validate(sec); err != nil {
		return err
	}
	if err := o.Polling.Validate(sec, 0); err != nil {
		return err
	}
	if len(o.LogGroups) == 0 && len(o.LogGroupPrefixes) == 0 {
		return sec.Errorf("log_groups", "at least one log group (or log_group_prefixes) is required")
	}
	seen := map[string]bool{}
	for i, g := range o.LogGroups {
		if !validGroup(g) {
			return sec.Errorf(fmt.Sprintf("log_groups[%d]", i), "%q is not a log group name (1-512 of a-z A-Z 0-9 _ - / . #) or log group ARN", g)
		}
		if seen[g] {
			return sec.Errorf(fmt.Sprintf("log_groups[%d]", i), "log group %s is listed twice", g)
		}
		seen[g] = true
	}
	for i, p := range o.LogGroupPrefixes {
		if p == "" || strings.HasPrefix(p, "arn:") || !validGroup(p) {
			return sec.Errorf(fmt.Sprintf("log_group_prefixes[%d]", i), "%q is not a log group name prefix", p)
		}
	}
	if o.FilterPattern != "" && len(o.Match) > 0 {
		return sec.Errorf("match", "give either filter_pattern or match, not both")
	}
	if len(o.Match) > 0 {
		p, err := JSONFilterPattern(o.Match)
		if err != nil {
			return sec.Errorf("match", "%v", err)
		}
		o.FilterPattern, o.Match = p, nil
	}
	switch o.Backfill {
	case "":
		o.Backfill = BackfillFilter
	case BackfillFilter, BackfillInsights:
	default:
		return sec.Errorf("backfill", "must be %s or %s, not %q", BackfillFilter, BackfillInsights, o.Backfill)
	}
	if len(o.FilterPattern) > MaxFilterPattern {
		return sec.Errorf("filter_pattern", "is %d characters long, CloudWatch Logs accepts at most %d", len(o.FilterPattern), MaxFilterPattern)
	}
	return nil
}

func validGroup(g string) bool {
	if strings.HasPrefix(g, "arn:") {
		return strings.Contains(g, ":log-group:")
	}
	if g == "" || len(g) > 512 {
		return false
	}
	for _, r := range g {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-/.#", r)) {
			return false
		}
	}
	return true
}

// JSONFilterPattern compiles field conditions into a CloudWatch Logs JSON
// filter pattern that matches records where every field has one of its
// values, for example
//
//	{ ($.eventSource = "iam.amazonaws.com") && (($.eventName = "CreateUser") || ($.eventName = "DeleteUser")) }
//
// Fields are JSON paths without the leading "$." (eventName,
// userIdentity.type); values may use * as a wildcard. Detectors that only
// look at some events can use it to have CloudWatch Logs drop the rest.
func JSONFilterPattern(match map[string][]string) (string, error) {
	fields := make([]string, 0, len(match))
	for f := range match {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var terms []string
	for _, f := range fields {
		if !validPath(f) {
			return "", fmt.Errorf("%q is not a JSON field path like eventName or userIdentity.type", f)
		}
		vals := match[f]
		if len(vals) == 0 {
			return "", fmt.Errorf("field %s has no values", f)
		}
		var ors []string
		for _, v := range vals {
			if v == "" || strings.ContainsAny(v, "\"\\\n\r") {
				return "", fmt.Errorf("value %q of %s must be non-empty, without quotes, backslashes or line breaks", v, f)
			}
			ors = append(ors, fmt.Sprintf("($.%s = %q)", f, v))
		}
		if len(ors) == 1 {
			terms = append(terms, ors[0])
		} else {
			terms = append(terms, "("+strings.Join(ors, " || ")+")")
		}
	}
	if len(terms) == 0 {
		return "", errors.New("no fields")
	}
	p := "{ " + strings.Join(terms, " && ") + " }"
	if len(p) > MaxFilterPattern {
		return "", fmt.Errorf("the pattern is %d characters long, CloudWatch Logs accepts at most %d", len(p), MaxFilterPattern)
	}
	return p, nil
}

func validPath(p string) bool {
	if p == "" || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.[]-", r)) {
			return false
		}
	}
	return true
}

// Source reads log groups of one account and region.
type Source struct {
	name     string
	target   awssrc.Target
	client   *cloudwatchlogs.Client
	poll     awssrc.Polling
	groups   []string
	prefixes []string
	pattern  string
	// Now is the clock; tests replace it.
	Now func() time.Time
	// pageSize overrides the page size (10000) in tests.
	pageSize int32
	backfill string
	// queryLimit and queryPoll tune Logs Insights queries; tests lower them.
	queryLimit int
	queryPoll  time.Duration
}

// Build validates the options and returns one source per account and
// region, named base/account/region.
func Build(ctx context.Context, base string, opts Options, sec configs.Section) ([]sources.Source, error) {
	if err := opts.Validate(sec); err != nil {
		return nil, err
	}
	return opts.EachTarget(ctx, base, sec, func(name string, t awssrc.Target) sources.Source { return New(name, t, opts) })
}

// New returns a source reading the target's log groups. opts must have
// been validated.
func New(name string, t awssrc.Target, opts Options) *Source {
	limiter := t.Limiter("logs", awssrc.FilterLogEventsRPS)
	client := cloudwatchlogs.NewFromConfig(t.Config, func(o *cloudwatchlogs.Options) {
		o.APIOptions = append(o.APIOptions, awssrc.Paced(limiter))
	})
	pattern := opts.FilterPattern
	if pattern == DeriveFilterPattern {
		pattern = "" // until SetFilterPattern
	}
	return &Source{name: name, target: t, client: client, poll: opts.Polling, groups: opts.LogGroups,
		prefixes: opts.LogGroupPrefixes, pattern: pattern, Now: time.Now, pageSize: 10000,
		backfill: opts.Backfill, queryLimit: insightsLimit, queryPoll: time.Second}
}

// SetFilterPattern replaces the filter pattern sent to FilterLogEvents
// ("" sends none), for a pattern derived from the enabled rules. Call it
// before the first Fetch; it is not safe to call concurrently with one.
func (s *Source) SetFilterPattern(p string) { s.pattern = p }

// FilterPattern returns the filter pattern sent to FilterLogEvents.
func (s *Source) FilterPattern() string { return s.pattern }

// Name implements sources.Source.
func (s *Source) Name() string { return s.name }

// sinkError marks an error from the sink, which stops the fetch.
type sinkError struct{ error }

func (e sinkError) Unwrap() error { return e.error }

// Fetch reads each log group from the end of its previous window, less
// the lag, to now (at most max_window). Groups that fail keep their old
// position; the others advance, and the error is returned as a
// *sources.PartialError.
func (s *Source) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	prev, err := awssrc.ParseCheckpoint(cp)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch: %w", err)
	}
	groups, errs := s.resolve(ctx)
	now := s.Now().UTC()
	next := awssrc.Checkpoint{Marks: map[string]awssrc.Mark{}}
	for _, g := range groups {
		w := s.poll.Next(prev.Marks[g].End, now, time.Time{})
		if err := s.readGroup(ctx, g, w, sink); err != nil {
			var se sinkError
			if errors.As(err, &se) {
				return nil, se.error
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, err)
			if m, ok := prev.Marks[g]; ok {
				next.Marks[g] = m
			}
			continue
		}
		next.Marks[g] = awssrc.Mark{End: w.End}
	}
	if len(errs) > 0 {
		// Keep the marks of groups a failed prefix listing may have hidden.
		for g, m := range prev.Marks {
			if _, ok := next.Marks[g]; !ok && len(s.prefixes) > 0 {
				next.Marks[g] = m
			}
		}
		return nil, sources.Partial(next.Bytes(), errors.Join(errs...))
	}
	return next.Bytes(), nil
}

// timestampSkew is how much earlier than its log event's timestamp an
// event's own time may be: CloudTrail delivers to CloudWatch Logs within
// minutes of the call, and the poll window selects by the log event's
// timestamp, while events are kept by their own time.
const timestampSkew = time.Hour

// Rereads implements sources.Rereader: the next poll reaches back the lag
// before the end of each group's last window, and a group without one
// (new, or never read successfully) the initial lookback before now; less
// timestampSkew.
func (s *Source) Rereads(cp []byte) (since time.Time, again bool) {
	c, err := awssrc.ParseCheckpoint(cp)
	if err != nil {
		return time.Time{}, true
	}
	since = s.Now().UTC().Add(-s.poll.InitialLookback.D())
	for _, m := range c.Marks {
		if start := m.End.Add(-s.poll.Lag.D()); start.Before(since) {
			since = start
		}
	}
	return since.Add(-timestampSkew), true
}

// FetchRange implements sources.Ranger: it reads every log group over w.
func (s *Source) FetchRange(ctx context.Context, w sources.Window, sink sources.Sink) error {
	if w.End.IsZero() {
		w.End = s.Now().UTC()
	}
	groups, errs := s.resolve(ctx)
	read := s.readGroup
	if s.backfill == BackfillInsights {
		read = s.queryGroup
	}
	for _, g := range groups {
		if err := read(ctx, g, w, sink); err != nil {
			var se sinkError
			if errors.As(err, &se) {
				return se.error
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// resolve returns the configured log groups plus those matching the
// prefixes, sorted and without repeats.
func (s *Source) resolve(ctx context.Context) ([]string, []error) {
	set := map[string]bool{}
	for _, g := range s.groups {
		set[g] = true
	}
	var errs []error
	for _, p := range s.prefixes {
		pages := cloudwatchlogs.NewDescribeLogGroupsPaginator(s.client, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: sdkaws.String(p)})
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				errs = append(errs, awssrc.Wrap(err, "cloudwatch: list log groups %s*", p))
				break
			}
			for _, g := range out.LogGroups {
				if g.LogGroupName != nil {
					set[*g.LogGroupName] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out, errs
}

// readGroup hands on the events of one log group in w.
func (s *Source) readGroup(ctx context.Context, group string, w sources.Window, sink sources.Sink) error {
	in := &cloudwatchlogs.FilterLogEventsInput{
		StartTime: sdkaws.Int64(w.Start.UnixMilli()),
		EndTime:   sdkaws.Int64(w.End.UnixMilli()),
		Limit:     sdkaws.Int32(s.pageSize),
	}
	name := groupName(group)
	if strings.HasPrefix(group, "arn:") {
		in.LogGroupIdentifier = sdkaws.String(strings.TrimSuffix(group, ":*"))
	} else {
		in.LogGroupName = sdkaws.String(group)
	}
	if s.pattern != "" {
		in.FilterPattern = sdkaws.String(s.pattern)
	}
	pages := cloudwatchlogs.NewFilterLogEventsPaginator(s.client, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return awssrc.Wrap(err, "cloudwatch: filter log events of %s", group)
		}
		for _, e := range out.Events {
			if e.Timestamp == nil {
				sink.Malformed(sources.Malformed{Where: group + " event " + sdkaws.ToString(e.EventId), Offset: -1, Reason: "no timestamp"})
				continue
			}
			ev, err := sources.LogEvent(sdkaws.ToString(e.EventId), strconv.FormatInt(sdkaws.ToInt64(e.Timestamp), 10),
				sdkaws.ToString(e.Message), name, sdkaws.ToString(e.LogStreamName), s.target.Account, s.name)
			if err != nil {
				sink.Malformed(sources.Malformed{Where: group + "/" + sdkaws.ToString(e.LogStreamName) + " event " + sdkaws.ToString(e.EventId), Offset: -1, Reason: err.Error()})
				continue
			}
			if ev.Region == "" {
				ev.Region = s.target.Region
			}
			if err := sink.Event(ctx, &ev); err != nil {
				return sinkError{err}
			}
		}
	}
	return nil
}
