// Package activity answers "what else did this principal do?": the calls
// one principal made in one account and region during a window, read from
// the fastest AWS engine that holds them (CloudTrail LookupEvents for the
// last 90 days of management events, then CloudWatch Logs Insights over a
// trail's log group, then Athena over the trail's files). Sources
// implement Reader; Chain picks one per query.
package activity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// Ranks order engines from fastest to slowest answer for a short window.
const (
	// RankLookupEvents is CloudTrail LookupEvents: indexed by user name
	// and access key, an answer in a second or two.
	RankLookupEvents = 10
	// RankInsights is CloudWatch Logs Insights: a query over the trail's
	// log group, several seconds.
	RankInsights = 20
	// RankAthena is Athena over the trail's S3 files: tens of seconds.
	RankAthena = 30
)

// MaxScan is the most events one query reads before it stops counting:
// a principal this busy gets the calls nearest the alert and "more than
// MaxScan" as its total.
const MaxScan = 2000

// Query asks for one principal's calls in one account and region.
type Query struct {
	// Principal is what the user or the alert names: a user name, a role
	// session ("role/session"), an ARN or an access key id.
	Principal string
	// ARN and AccessKeyID narrow the query when known (from an alert).
	ARN         string
	AccessKeyID string
	// Account and Region are where the calls were made; empty means the
	// engine's own.
	Account string
	Region  string
	// Start and End bound the window, both inclusive.
	Start, End time.Time
	// Anchor is the time the rows are chosen around when there are more
	// than asked for (the alert's time); zero keeps the latest rows.
	Anchor time.Time
}

// Key identifies a query for caching: principal and window.
func (q Query) Key() string {
	return strings.Join([]string{q.Principal, q.ARN, q.AccessKeyID, q.Account, q.Region,
		q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339), q.Anchor.UTC().Format(time.RFC3339)}, "|")
}

// accessKeyRe matches an AWS access key id (long-term AKIA, temporary
// ASIA).
var accessKeyRe = regexp.MustCompile(`^(AKIA|ASIA)[A-Z0-9]{12,124}$`)

// IsAccessKeyID reports whether s is an AWS access key id.
func IsAccessKeyID(s string) bool { return accessKeyRe.MatchString(s) }

// KeyID returns the access key id to look up by, if the query has one.
func (q Query) KeyID() string {
	if q.AccessKeyID != "" {
		return q.AccessKeyID
	}
	if IsAccessKeyID(q.Principal) {
		return q.Principal
	}
	return ""
}

// UserName returns the name CloudTrail's LookupEvents indexes as
// Username: the user name of an IAM user, the session name of an
// assumed role, "root" for the root user.
func (q Query) UserName() string {
	p := q.Principal
	if p == "" {
		p = q.ARN
	}
	if strings.HasPrefix(p, "arn:") {
		_, res, _ := strings.Cut(p[4:], ":") // partition
		_, res, _ = strings.Cut(res, ":")    // service
		_, res, _ = strings.Cut(res, ":")    // region
		_, res, _ = strings.Cut(res, ":")    // account
		if res == "root" {
			return "root"
		}
		p = res
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// Matches reports whether an event is the query's principal's, for
// engines whose server-side condition is broader than the principal (a
// user name shared by sessions of different roles).
func (q Query) Matches(ev *sources.Event) bool {
	if k := q.KeyID(); k != "" {
		return ev.Principal.AccessKeyID == k
	}
	if q.ARN != "" {
		return ev.Principal.ARN == q.ARN
	}
	if strings.HasPrefix(q.Principal, "arn:") {
		return ev.Principal.ARN == q.Principal
	}
	if strings.Contains(q.Principal, "/") {
		return ev.Principal.Name == q.Principal || strings.HasSuffix(ev.Principal.ARN, "/"+q.Principal)
	}
	return ev.Principal.Name == q.Principal || q.UserName() == lastSegment(ev.Principal.ARN)
}

func lastSegment(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return ""
}

// Row is one call in a timeline.
type Row struct {
	Time time.Time
	// Action is service:eventName, "iam:CreateAccessKey".
	Action string
	// Target is the resource the call acted on, or the request parameter
	// that names it; empty when the call names none.
	Target   string
	SourceIP string
	// Error is the error code of a failed call.
	Error string
}

// Result is an engine's answer.
type Result struct {
	// Rows are the calls chosen (at most the limit asked), oldest first.
	Rows []Row
	// Total is how many calls the window holds; with Truncated, how many
	// were read before the engine stopped counting.
	Total     int
	Truncated bool
	// Unreadable counts records of the principal's that could not be
	// read (malformed JSON); they are not in Rows or Total.
	Unreadable int
	// Unread names the accounts and regions that could not be read when
	// a query without account or region asked several (their errors are
	// returned only when none could be read).
	Unread []string
	// Engine names who answered, "CloudTrail LookupEvents".
	Engine string
	// Note warns about the answer: the engine does not know its account,
	// so it may not hold the query's.
	Note string
}

// Reader is an engine that answers activity queries for one account and
// region.
type Reader interface {
	// Scope says what the reader holds.
	Scope() Scope
	// Activity reads the query's calls and keeps at most limit rows.
	Activity(ctx context.Context, q Query, limit int) (Result, error)
}

// Scope is what one reader holds.
type Scope struct {
	// Engine names the engine for users: "CloudTrail LookupEvents".
	Engine string
	// Rank orders engines, fastest first (RankLookupEvents, ...).
	Rank int
	// Account is the account read; empty when it is the credentials' own,
	// which the reader does not know.
	Account string
	Region  string
	// Retention is how far back the engine reads; 0 is without limit.
	Retention time.Duration
}

// covers reports whether the scope holds the query's account, region and
// window at now; exact is set when the account is known to match.
func (s Scope) covers(q Query, now time.Time) (ok, exact bool) {
	if q.Region != "" && s.Region != "" && q.Region != s.Region {
		return false, false
	}
	if q.Account != "" && s.Account != "" && q.Account != s.Account {
		return false, false
	}
	if s.Retention > 0 && q.Start.Before(now.Add(-s.Retention)) {
		return false, false
	}
	return true, q.Account != "" && s.Account == q.Account
}

// label names the scope's account and region, "111122223333/eu-west-1".
func (s Scope) label() string {
	if s.Account == "" {
		return s.Region
	}
	return s.Account + "/" + s.Region
}

// ErrNoEngine is returned when no activity engine is configured.
var ErrNoEngine = errors.New("activity: no engine is configured: add a cloudtrail source (LookupEvents), a cloudwatch source reading the trail's log group or an athena source")

// NotCoveredError says no configured engine holds the query's account,
// region or window.
type NotCoveredError struct {
	Account, Region string
	Start           time.Time
	Engines         []string
}

func (e *NotCoveredError) Error() string {
	where := fmt.Sprintf("account %s region %s", orAny(e.Account), orAny(e.Region))
	return fmt.Sprintf("activity: no configured engine (%s) reads %s back to %s", strings.Join(e.Engines, ", "), where, e.Start.UTC().Format("2006-01-02 15:04 UTC"))
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// Chain answers each query with the fastest reader that covers it:
// readers known to read the query's account before those whose account
// is unknown, then by rank. A query without an account or region asks
// every reader of that engine (at most maxFanOut) and merges the
// answers.
type Chain struct {
	Readers []Reader
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log receives the errors of readers a merged answer leaves out; nil
	// is slog.Default().
	Log *slog.Logger
}

// Activity implements the lookup: it picks a reader and asks it.
func (c *Chain) Activity(ctx context.Context, q Query, limit int) (Result, error) {
	if c == nil || len(c.Readers) == 0 {
		return Result{}, ErrNoEngine
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	type cand struct {
		r     Reader
		s     Scope
		exact bool
	}
	var cands []cand
	var engines []string
	seen := map[string]bool{}
	for _, r := range c.Readers {
		s := r.Scope()
		if !seen[s.Engine] {
			seen[s.Engine] = true
			engines = append(engines, s.Engine)
		}
		if ok, exact := s.covers(q, now); ok {
			cands = append(cands, cand{r, s, exact})
		}
	}
	if len(cands) == 0 {
		return Result{}, &NotCoveredError{Account: q.Account, Region: q.Region, Start: q.Start, Engines: engines}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].exact != cands[j].exact {
			return cands[i].exact
		}
		return cands[i].s.Rank < cands[j].s.Rank
	})
	best := cands[0]
	note := ""
	if q.Account != "" && !best.exact {
		note = fmt.Sprintf("%s reads the account of the bot's credentials, which the configuration does not name: if that is not %s, list the account under the source's accounts.", best.s.Engine, q.Account)
	}
	if q.Account != "" && q.Region != "" {
		res, err := best.r.Activity(ctx, q, limit)
		if res.Engine == "" {
			res.Engine = best.s.Engine
		}
		res.Note = note
		return res, err
	}
	merged := Result{Engine: best.s.Engine, Note: note}
	chainLog := c.Log
	var rows []Row
	var errs []error
	read := 0
	for _, c := range cands {
		if c.exact != best.exact || c.s.Rank != best.s.Rank || c.s.Engine != best.s.Engine {
			continue
		}
		if read == maxFanOut {
			merged.Unread = append(merged.Unread, c.s.label())
			continue
		}
		read++
		res, err := c.r.Activity(ctx, q, limit)
		if err != nil {
			if ctx.Err() != nil {
				return Result{}, ctx.Err()
			}
			errs = append(errs, err)
			merged.Unread = append(merged.Unread, c.s.label())
			logger := slog.Default()
			if chainLog != nil {
				logger = chainLog
			}
			logger.Warn("activity lookup failed in one account or region", "engine", c.s.Engine, "scope", c.s.label(), "err", err)
			continue
		}
		rows = append(rows, res.Rows...)
		merged.Total += res.Total
		merged.Truncated = merged.Truncated || res.Truncated
		merged.Unreadable += res.Unreadable
	}
	if len(errs) == read {
		return Result{}, errors.Join(errs...)
	}
	merged.Rows = Pick(rows, limit, q.Anchor)
	return merged, nil
}

// maxFanOut is the most readers one query without account or region
// asks.
const maxFanOut = 16

// RowOf turns a CloudTrail event into a timeline row.
func RowOf(ev *sources.Event) Row {
	svc := strings.TrimSuffix(ev.Service, ".amazonaws.com")
	action := ev.Action
	if svc != "" {
		action = svc + ":" + ev.Action
	}
	return Row{Time: ev.Time, Action: action, Target: TargetOf(ev), SourceIP: ev.SourceIP, Error: ev.ErrorCode}
}

// targetParams are the request parameters that name what a call acts
// on, most specific first.
var targetParams = []string{
	"bucketName", "userName", "roleName", "groupName", "policyArn", "policyName", "functionName",
	"instancesSet.items.0.instanceId", "instanceId", "keyId", "secretId", "name", "trailName", "roleArn",
	"dBInstanceIdentifier", "dBClusterIdentifier", "clusterName", "topicArn", "queueUrl", "tableName",
	"logGroupName", "stackName", "repositoryName", "accessKeyId", "groupId", "vpcId", "imageId",
	"snapshotId", "volumeId", "detectorId", "resourceArn", "arn", "key", "id",
}

// maxTarget bounds a target's length in a row.
const maxTarget = 120

// TargetOf returns what a call acted on: the first resource ARN the
// record lists, else the first request parameter of targetParams.
func TargetOf(ev *sources.Event) string {
	if v, ok := ev.Field("resources"); ok {
		if rs, ok := v.([]any); ok {
			for _, r := range rs {
				if m, ok := r.(map[string]any); ok {
					if s, ok := m["ARN"].(string); ok && s != "" {
						return clip(s)
					}
				}
			}
		}
	}
	for _, p := range targetParams {
		v, ok := ev.Field("requestParameters." + p)
		if !ok {
			continue
		}
		switch x := v.(type) {
		case string:
			if x != "" {
				return clip(x)
			}
		case float64, bool:
			return clip(fmt.Sprint(x))
		}
	}
	return ""
}

func clip(s string) string {
	r := []rune(s)
	if len(r) <= maxTarget {
		return s
	}
	return string(r[:maxTarget-1]) + "…"
}

// Pick keeps at most limit rows of rows: a run of consecutive calls
// centred on anchor (or the latest, for a zero anchor), oldest first.
func Pick(rows []Row, limit int, anchor time.Time) []Row {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
	if limit <= 0 || len(rows) <= limit {
		return rows
	}
	if anchor.IsZero() {
		return rows[len(rows)-limit:]
	}
	// The rows are sorted: the nearest limit form a contiguous run; slide
	// a window to where it is centred on the anchor.
	i := sort.Search(len(rows), func(i int) bool { return !rows[i].Time.Before(anchor) })
	lo := max(0, i-limit/2)
	if lo+limit > len(rows) {
		lo = len(rows) - limit
	}
	return rows[lo : lo+limit]
}

// Describe turns an engine's error into a sentence for chat: what went
// wrong and what to do, never credentials or request ids.
func Describe(err error) string {
	var nc *NotCoveredError
	switch {
	case errors.Is(err, ErrNoEngine):
		return "No activity engine is configured: Trailhound reads a principal's activity through a cloudtrail source (LookupEvents), a cloudwatch source over the trail's log group or an athena source, and none is set up."
	case errors.As(err, &nc):
		return fmt.Sprintf("No configured engine reads account %s in region %s back to %s (%s).", orAny(nc.Account), orAny(nc.Region), nc.Start.UTC().Format("2006-01-02 15:04 UTC"), strings.Join(nc.Engines, ", "))
	case errors.Is(err, context.DeadlineExceeded):
		return "The lookup took too long and was stopped. Try a shorter window."
	}
	switch awssrc.ClassOf(err) {
	case sources.ClassThrottled:
		return "AWS throttled the lookup. Try again in a minute."
	case sources.ClassUnauthorized:
		return "AWS refused the lookup: the bot's credentials lack the permission (cloudtrail:LookupEvents; logs:StartQuery and logs:GetQueryResults; or Athena's, see configs/iam-policy.json)."
	case sources.ClassNotFound:
		return "AWS did not find what the lookup reads (a log group or trail). Check the source's configuration."
	case sources.ClassInvalid:
		return "AWS rejected the lookup as invalid; the error is logged."
	}
	return "The lookup failed; the error is logged. Please try again."
}
