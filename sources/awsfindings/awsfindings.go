// Package awsfindings is the source of findings made by AWS security
// services (GuardDuty, Security Hub, Inspector, Macie, IAM Access
// Analyzer) and of CloudTrail management events delivered within seconds
// by EventBridge. It reads an SQS queue fed by EventBridge rules, or, for
// backfill and accounts without EventBridge wiring, pulls Security Hub's
// GetFindings. Findings become events carrying a sources.AWSFinding, which
// the adapter detector (detectors/external) turns into detectors.Finding;
// CloudTrail events are normalised like any CloudTrail record, so the
// whole rule pack runs on them.
package awsfindings

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/aws/sqsqueue"
)

// Products are the product names filters accept.
var Products = []string{"guardduty", "securityhub", "inspector", "macie", "access-analyzer"}

// Filter selects the findings that become alerts.
type Filter struct {
	// Products keeps findings of these products (see Products). Empty:
	// all. A product integrated with Security Hub other than those is
	// named by its product ARN's last segment, for example "config".
	Products []string `yaml:"products"`
	// Types keeps findings whose type matches one of these globs, where *
	// matches any run of characters ("/" included) and ? any one, for
	// example "UnauthorizedAccess:*" or "security-control/IAM.*".
	// Empty: all.
	Types []string `yaml:"types"`
	// MinSeverity is the severity floor (informational, low, medium, high
	// or critical): findings under it are counted in the digest but not
	// posted. Default: low.
	MinSeverity string `yaml:"min_severity"`
	// Accounts keeps findings of these accounts. Empty: all.
	Accounts []string `yaml:"accounts"`

	types []*regexp.Regexp
}

// glob compiles a type glob: * is any run of characters, ? any one.
func glob(g string) *regexp.Regexp {
	q := regexp.QuoteMeta(g)
	q = strings.ReplaceAll(q, `\*`, ".*")
	q = strings.ReplaceAll(q, `\?`, ".")
	return regexp.MustCompile("^" + q + "$")
}

var severityRank = map[string]int{"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

// validate checks the filter and fills in defaults.
func (f *Filter) validate(sec configs.Section) error {
	for i, p := range f.Products {
		p = strings.ToLower(p)
		f.Products[i] = p
		if p == "" || strings.ContainsAny(p, " /") {
			return sec.Errorf(fmt.Sprintf("filter.products[%d]", i), "%q is not a product name (want one of %s)", p, strings.Join(Products, ", "))
		}
	}
	f.types = nil
	for i, t := range f.Types {
		if t == "" {
			return sec.Errorf(fmt.Sprintf("filter.types[%d]", i), "is empty: give a type or a glob such as \"Recon:*\"")
		}
		f.types = append(f.types, glob(t))
	}
	if f.MinSeverity == "" {
		f.MinSeverity = "low"
	}
	if _, ok := severityRank[strings.ToUpper(f.MinSeverity)]; !ok {
		return sec.Errorf("filter.min_severity", "%q is not a severity (want informational, low, medium, high or critical)", f.MinSeverity)
	}
	for i, a := range f.Accounts {
		if len(a) != 12 || strings.Trim(a, "0123456789") != "" {
			return sec.Errorf(fmt.Sprintf("filter.accounts[%d]", i), "%q is not a 12-digit AWS account id (quote it in YAML)", a)
		}
	}
	return nil
}

// Keep reports whether a finding passes the filter, and marks it
// BelowFloor when it is under the severity floor.
func (f *Filter) Keep(x *sources.AWSFinding) bool {
	if len(f.Products) > 0 && !contains(f.Products, x.Product) {
		return false
	}
	if len(f.Accounts) > 0 && !contains(f.Accounts, x.Account) {
		return false
	}
	if len(f.Types) > 0 {
		if len(f.types) != len(f.Types) {
			f.types = nil
			for _, t := range f.Types {
				f.types = append(f.types, glob(t))
			}
		}
		ok := false
		for _, g := range f.types {
			if g.MatchString(x.Type) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	x.BelowFloor = severityRank[x.Severity] < severityRank[strings.ToUpper(cmpOr(f.MinSeverity, "low"))]
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Options configure an aws-findings source.
type Options struct {
	// Profile, Regions, Accounts (AssumeRole), EndpointURL and retry
	// settings. With a queue: exactly one region (the queue's) and at
	// most one account (the queue's owner). Pulling: every account and
	// region to read.
	awssrc.Options `yaml:",inline"`
	// QueueURL is the SQS queue the EventBridge rules deliver to. Empty:
	// pull Security Hub's GetFindings instead.
	QueueURL string `yaml:"queue_url"`
	// MaxMessages caps the queue messages one poll handles. Default 500.
	MaxMessages int `yaml:"max_messages"`
	// VisibilityTimeout hides a received message from other receivers
	// until the poll has stored its findings and deleted it. Default 5m.
	VisibilityTimeout configs.Duration `yaml:"visibility_timeout"`
	// Filter selects the findings that become alerts. CloudTrail events
	// on the queue are not filtered: the rules judge them.
	Filter Filter `yaml:"filter"`
	// Lag is, when pulling, how far before the previous poll's end the
	// next one starts again, for findings updated late. Default 15m.
	Lag configs.Duration `yaml:"lag"`
	// InitialLookback is how far back the first pull reads. Default 1h.
	InitialLookback configs.Duration `yaml:"initial_lookback"`
}

// Validate checks the options and fills in defaults.
func (o *Options) Validate(sec configs.Section) error {
	if err := o.Options.Validate(sec); err != nil {
		return err
	}
	if o.QueueURL != "" {
		if len(o.Regions) != 1 {
			return sec.Errorf("regions", "give exactly one region with queue_url: the queue's")
		}
		if len(o.Accounts) > 1 {
			return sec.Errorf("accounts", "give at most one account with queue_url: the one that owns the queue")
		}
		if !sqsqueue.ValidURL(o.QueueURL) {
			return sec.Errorf("queue_url", "%q is not an SQS queue URL like https://sqs.eu-west-1.amazonaws.com/123456789012/trailhound-findings", o.QueueURL)
		}
	}
	if err := sqsqueue.ValidateReceive(sec, &o.MaxMessages, &o.VisibilityTimeout, 5*time.Minute); err != nil {
		return err
	}
	if o.Lag == 0 {
		o.Lag = configs.Duration(awssrc.DefaultLag)
	}
	if o.InitialLookback == 0 {
		o.InitialLookback = configs.Duration(awssrc.DefaultInitialLookback)
	}
	if o.Lag.D() < 0 || o.InitialLookback.D() < 0 {
		return sec.Errorf("lag", "lag and initial_lookback must not be negative")
	}
	return o.Filter.validate(sec)
}

// Build validates the options and returns the sources: one reading the
// queue, named base/[account/]region, or one pulling GetFindings per
// account and region.
func Build(ctx context.Context, base string, opts Options, sec configs.Section) ([]sources.Source, error) {
	if err := opts.Validate(sec); err != nil {
		return nil, err
	}
	return opts.EachTarget(ctx, base, sec, func(name string, t awssrc.Target) sources.Source {
		if opts.QueueURL != "" {
			return NewQueue(name, t, opts)
		}
		return NewPull(name, t, opts)
	})
}

// Queue reads EventBridge events from an SQS queue. It implements
// sources.Acker: messages are deleted only once the findings of the poll
// that read them are committed.
type Queue struct {
	name  string
	opts  Options
	queue *sqsqueue.Queue
	// Pull, when set, serves FetchRange (scan --since) from Security
	// Hub, since a queue cannot be read by time.
	Pull *Pull
	// waitSeconds is the SQS long-poll wait; tests set 0.
	waitSeconds int32
	// Received, when set, is called with each message's receive time,
	// for latency measurements.
	Received func(eventIDs []string, at time.Time)
	// Now is the clock.
	Now func() time.Time
}

// NewQueue returns a source reading the options' queue with the target's
// credentials. opts must have been validated.
func NewQueue(name string, t awssrc.Target, opts Options) *Queue {
	lim := t.Limiter("sqs", awssrc.DefaultRPS)
	return &Queue{
		name: name, opts: opts, waitSeconds: 1, Now: time.Now,
		queue: sqsqueue.New(sqs.NewFromConfig(t.Config, func(o *sqs.Options) {
			o.APIOptions = append(o.APIOptions, awssrc.Paced(lim))
		}), opts.QueueURL, "aws-findings"),
		Pull: NewPull(name, t, opts),
	}
}

// Name implements sources.Source.
func (q *Queue) Name() string { return q.name }

// queueState is the checkpoint of a queue source: the receipt handles
// of the messages read, deleted once the poll's findings are stored.
type queueState struct {
	Pending []string `json:"pending,omitempty"`
}

func parseQueue(cp []byte) (awssrc.Checkpoint, queueState, error) {
	c, err := awssrc.ParseCheckpoint(cp)
	if err != nil {
		return c, queueState{}, fmt.Errorf("aws-findings: %w", err)
	}
	var st queueState
	if len(c.Extra) > 0 {
		if err := json.Unmarshal(c.Extra, &st); err != nil {
			return c, st, fmt.Errorf("aws-findings: checkpoint is corrupt: %w", err)
		}
	}
	return c, st, nil
}

func encodeQueue(c awssrc.Checkpoint, st queueState) []byte {
	c.Extra, _ = json.Marshal(st)
	return c.Bytes()
}

// Fetch receives up to MaxMessages messages and hands their events to
// the sink. A message that can never be read (not JSON, not an
// EventBridge event, a detail type this source does not know, a finding
// without its id or update time) is reported as malformed, naming the
// message and what was wrong, and deleted with the others once the poll
// commits: receiving it again would only report it again. A message
// whose events the sink refused stays on the queue and comes back after
// its visibility timeout.
func (q *Queue) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	c, st, err := parseQueue(cp)
	if err != nil {
		return nil, err
	}
	// Messages of a committed poll that were not deleted (the process
	// stopped before Ack) are deleted now; if their receipts expired they
	// come back and their events are skipped as repeats.
	q.queue.DeleteLeftover(ctx, st.Pending)
	st.Pending = nil
	// Only the first receive waits for messages (a long poll); later ones
	// return at once, so that the poll, and the cards of what it read,
	// are not held up by a wait on an empty queue. What a short receive
	// misses comes with the next poll.
	wait := q.waitSeconds
	for received := 0; received < q.opts.MaxMessages; wait = 0 {
		msgs, err := q.queue.Receive(ctx, q.opts.MaxMessages-received, q.opts.VisibilityTimeout.D(), wait)
		if err != nil {
			if len(st.Pending) == 0 {
				return nil, err
			}
			return nil, sources.Partial(encodeQueue(c, st), err)
		}
		if len(msgs) == 0 {
			break
		}
		at := q.Now()
		received += len(msgs)
		for _, m := range msgs {
			handle := sdkaws.ToString(m.ReceiptHandle)
			evs, err := Parse([]byte(sdkaws.ToString(m.Body)), q.name)
			if err != nil {
				// Reported; what could be read of it is judged below.
				sink.Malformed(sources.Malformed{Where: "queue message " + sdkaws.ToString(m.MessageId), Offset: -1, Reason: err.Error()})
			}
			var ids []string
			for i := range evs {
				ev := &evs[i]
				if ev.Finding != nil && !q.opts.Filter.Keep(ev.Finding) {
					continue
				}
				ids = append(ids, ev.ID)
				if err := sink.Event(ctx, ev); err != nil {
					return nil, err
				}
			}
			if q.Received != nil {
				q.Received(ids, at)
			}
			st.Pending = append(st.Pending, handle)
		}
	}
	return encodeQueue(c, st), nil
}

// Ack implements sources.Acker: it deletes the messages the committed
// poll read.
func (q *Queue) Ack(ctx context.Context, cp []byte) error {
	_, st, err := parseQueue(cp)
	if err != nil || len(st.Pending) == 0 {
		return err
	}
	return q.queue.Delete(ctx, st.Pending)
}

// FetchRange implements sources.Ranger through Security Hub: a queue
// holds only what is new.
func (q *Queue) FetchRange(ctx context.Context, w sources.Window, sink sources.Sink) error {
	return q.Pull.FetchRange(ctx, w, sink)
}

// Pull reads findings from Security Hub's GetFindings in one account and
// region.
type Pull struct {
	name   string
	opts   Options
	client *securityhub.Client
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewPull returns a source pulling GetFindings with the target's
// credentials. opts must have been validated.
func NewPull(name string, t awssrc.Target, opts Options) *Pull {
	// GetFindings: 3 requests per second, burst 6 (Security Hub quotas).
	lim := t.Limiter("securityhub", 3)
	return &Pull{name: name, opts: opts, Now: time.Now,
		client: securityhub.NewFromConfig(t.Config, func(o *securityhub.Options) {
			o.APIOptions = append(o.APIOptions, awssrc.Paced(lim))
		}),
	}
}

// Name implements sources.Source.
func (p *Pull) Name() string { return p.name }

// Fetch reads the findings updated since the previous poll (less Lag, so
// late updates are read again and skipped as repeats).
func (p *Pull) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	c, err := awssrc.ParseCheckpoint(cp)
	if err != nil {
		return nil, fmt.Errorf("aws-findings: %w", err)
	}
	now := p.Now().UTC()
	prev := c.Marks["pull"].End
	start := now.Add(-p.opts.InitialLookback.D())
	if !prev.IsZero() {
		start = prev.Add(-p.opts.Lag.D())
	}
	if err := p.FetchRange(ctx, sources.Window{Start: start, End: now}, sink); err != nil {
		return nil, err
	}
	c.Marks["pull"] = awssrc.Mark{End: now}
	return c.Bytes(), nil
}

// productNames maps product names to the ASFF ProductName values
// GetFindings filters on.
var productNames = map[string][]string{
	"guardduty":       {"GuardDuty"},
	"securityhub":     {"Security Hub", "Security Hub CSPM"},
	"inspector":       {"Inspector"},
	"macie":           {"Macie"},
	"access-analyzer": {"IAM Access Analyzer"},
}

// filters returns the GetFindings filters for a window: active records,
// workflow NEW or NOTIFIED, at or above the severity floor, of the
// configured products and accounts, updated within w.
func (p *Pull) filters(w sources.Window) *shtypes.AwsSecurityFindingFilters {
	eq := func(vs ...string) []shtypes.StringFilter {
		var out []shtypes.StringFilter
		for _, v := range vs {
			out = append(out, shtypes.StringFilter{Comparison: shtypes.StringFilterComparisonEquals, Value: sdkaws.String(v)})
		}
		return out
	}
	f := &shtypes.AwsSecurityFindingFilters{
		RecordState:    eq("ACTIVE"),
		WorkflowStatus: eq("NEW", "NOTIFIED"),
	}
	floor := severityRank[strings.ToUpper(cmpOr(p.opts.Filter.MinSeverity, "low"))]
	for _, l := range []string{"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"} {
		if severityRank[l] >= floor {
			f.SeverityLabel = append(f.SeverityLabel, eq(l)...)
		}
	}
	for _, prod := range p.opts.Filter.Products {
		if names, ok := productNames[prod]; ok {
			f.ProductName = append(f.ProductName, eq(names...)...)
		}
	}
	f.AwsAccountId = eq(p.opts.Filter.Accounts...)
	d := shtypes.DateFilter{}
	if !w.Start.IsZero() {
		d.Start = sdkaws.String(w.Start.UTC().Format(time.RFC3339))
	}
	if !w.End.IsZero() {
		d.End = sdkaws.String(w.End.UTC().Format(time.RFC3339))
	}
	if d.Start != nil || d.End != nil {
		f.UpdatedAt = []shtypes.DateFilter{d}
	}
	return f
}

// FetchRange implements sources.Ranger: it pages through the findings
// updated within w, oldest first. Pulling asks Security Hub only for
// findings at or above the severity floor, so findings under it are not
// counted in pull mode.
func (p *Pull) FetchRange(ctx context.Context, w sources.Window, sink sources.Sink) error {
	in := &securityhub.GetFindingsInput{
		Filters:      p.filters(w),
		MaxResults:   sdkaws.Int32(100),
		SortCriteria: []shtypes.SortCriterion{{Field: sdkaws.String("UpdatedAt"), SortOrder: shtypes.SortOrderAscending}},
	}
	pages := securityhub.NewGetFindingsPaginator(p.client, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return awssrc.Wrap(err, "aws-findings: get findings")
		}
		for i := range out.Findings {
			raw, err := json.Marshal(&out.Findings[i])
			if err != nil {
				return fmt.Errorf("aws-findings: encode finding: %w", err)
			}
			f, err := ASFF(raw)
			if err != nil {
				sink.Malformed(sources.Malformed{Where: "GetFindings " + sdkaws.ToString(out.Findings[i].Id), Offset: -1, Reason: err.Error()})
				continue
			}
			if !p.opts.Filter.Keep(f) {
				continue
			}
			ev := EventOf(f, p.name)
			if err := sink.Event(ctx, &ev); err != nil {
				return err
			}
		}
	}
	return nil
}
