package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/trailhound/trailhound/sources/activity"
	"github.com/trailhound/trailhound/workflows"
)

// ActivityReader reads a principal's calls in a window: activity.Chain
// picks the fastest engine that holds them.
type ActivityReader interface {
	Activity(ctx context.Context, q activity.Query, limit int) (activity.Result, error)
}

// Defaults of ActivityOptions.
const (
	DefaultActivityWindow        = time.Hour
	DefaultActivityMaxRows       = 50
	DefaultActivityCacheTTL      = 5 * time.Minute
	DefaultActivityMaxConcurrent = 4
	DefaultActivityTimeout       = 20 * time.Second
	// MaxActivitySince is the longest --since: LookupEvents' 90 days.
	MaxActivitySince = 90 * 24 * time.Hour
)

// ActivityOptions bound the activity lookups; zero fields take the
// defaults above.
type ActivityOptions struct {
	// Window is how far either side of the alert's first and last seen
	// a lookup reads.
	Window time.Duration
	// MaxRows is the most calls a timeline shows; it says how many more
	// there are.
	MaxRows int
	// CacheTTL is how long an answer is reused for the same principal
	// and window.
	CacheTTL time.Duration
	// MaxConcurrent caps the lookups running at once, over all alerts;
	// more wait their turn.
	MaxConcurrent int
	// Timeout bounds one lookup.
	Timeout time.Duration
}

func (o ActivityOptions) withDefaults() ActivityOptions {
	if o.Window <= 0 {
		o.Window = DefaultActivityWindow
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultActivityMaxRows
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultActivityCacheTTL
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultActivityMaxConcurrent
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultActivityTimeout
	}
	return o
}

// Activity runs the lookups asked for from chat: one at a time per alert
// (or per principal and window, without an alert), at most MaxConcurrent
// at once, answers cached for CacheTTL. A nil Reader means no engine is
// configured, which the timeline says.
type Activity struct {
	Reader  ActivityReader
	Options ActivityOptions

	once    sync.Once
	mu      sync.Mutex
	running map[string]bool
	cache   map[string]cachedActivity
	slots   chan struct{}
}

type cachedActivity struct {
	res activity.Result
	at  time.Time
}

func (a *Activity) init() {
	a.once.Do(func() {
		a.Options = a.Options.withDefaults()
		a.running = map[string]bool{}
		a.cache = map[string]cachedActivity{}
		a.slots = make(chan struct{}, a.Options.MaxConcurrent)
	})
}

// claim marks key as running; false when it already is.
func (a *Activity) claim(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running[key] {
		return false
	}
	a.running[key] = true
	return true
}

func (a *Activity) release(key string) {
	a.mu.Lock()
	delete(a.running, key)
	a.mu.Unlock()
}

// lookup answers q from the cache or the reader.
func (a *Activity) lookup(ctx context.Context, q activity.Query, now time.Time) (activity.Result, bool, error) {
	key := q.Key()
	a.mu.Lock()
	c, ok := a.cache[key]
	if ok && now.Sub(c.at) < a.Options.CacheTTL {
		a.mu.Unlock()
		return c.res, true, nil
	}
	a.mu.Unlock()
	if a.Reader == nil {
		return activity.Result{}, false, activity.ErrNoEngine
	}
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return activity.Result{}, false, ctx.Err()
	}
	defer func() { <-a.slots }()
	ctx, cancel := context.WithTimeout(ctx, a.Options.Timeout)
	defer cancel()
	res, err := a.Reader.Activity(ctx, q, a.Options.MaxRows)
	if err != nil {
		return res, false, err
	}
	a.mu.Lock()
	for k, c := range a.cache {
		if now.Sub(c.at) >= a.Options.CacheTTL {
			delete(a.cache, k)
		}
	}
	a.cache[key] = cachedActivity{res: res, at: now}
	a.mu.Unlock()
	return res, false, nil
}

// ActivityRequest is what a user asked for: the activity around an alert
// (its button, or --around), or a principal's over a period (--since).
type ActivityRequest struct {
	// AlertID is the alert; its principal unless Principal is set, and
	// its account, region and times.
	AlertID   string
	Principal string
	// Since is the period before now, without an alert.
	Since time.Duration
}

// ActivityJob is a lookup accepted for running. The adapter posts
// Placeholder (in the alert's thread when Alert is set), then calls Run
// and replaces the placeholder with its answer.
type ActivityJob struct {
	// Placeholder says what is being looked up.
	Placeholder string
	// Alert is the alert whose thread the timeline belongs in; nil for a
	// lookup by period.
	Alert *workflows.Alert
	// Actors are the identities the texts name on purpose: who asked.
	Actors []string

	run  func(ctx context.Context) string
	done sync.Once
	free func()
}

// Run performs the lookup and returns the timeline, or a sentence saying
// why there is none. It runs once; the alert is free for the next lookup
// when it returns.
func (j *ActivityJob) Run(ctx context.Context) string {
	var out string
	j.done.Do(func() {
		defer j.free()
		out = j.run(ctx)
	})
	return out
}

// Cancel frees the alert for the next lookup without running this one,
// for an adapter that could not post the placeholder.
func (j *ActivityJob) Cancel() { j.done.Do(j.free) }

// StartActivity checks the user's role and the bounds and returns the
// lookup to run, or, when there is nothing to run (a refusal, an unknown
// alert, one already running), the answer to give the user at once.
func (s *Service) StartActivity(ctx context.Context, id Identity, role Role, req ActivityRequest) (*ActivityJob, Reply) {
	job, r := s.startActivity(ctx, id, role, req)
	if job == nil {
		observeRequest(id.Platform, "action:"+string(OpActivity), r)
	}
	return job, r
}

func (s *Service) startActivity(_ context.Context, id Identity, role Role, req ActivityRequest) (*ActivityJob, Reply) {
	if role < MinRole[OpActivity] {
		return nil, s.refuse(id, role, "look up activity", req.AlertID)
	}
	act := s.Activity
	if act == nil {
		// Not configured: lookups answer that no engine is.
		s.noActivity.Do(func() { s.unconfigured = &Activity{} })
		act = s.unconfigured
	}
	act.init()
	now := s.now()
	q := activity.Query{Principal: req.Principal}
	var alert *workflows.Alert
	around := ""
	if req.AlertID != "" {
		a, err := s.Store.Get(req.AlertID)
		if err != nil {
			return nil, s.failure(id, string(OpActivity), err)
		}
		alert = &a
		f := a.Finding
		if q.Principal == "" {
			q.Principal = firstNonEmpty(f.Principal.Name, f.Principal.ARN)
			q.ARN = f.Principal.ARN
		}
		if q.Principal == "" {
			return nil, Reply{Ephemeral: true, Failed: "rejected", Text: fmt.Sprintf("`%s` names no principal whose activity could be looked up.", a.ID)}
		}
		q.Account, q.Region = f.Account, f.Region
		first, last := a.FirstSeen, a.LastSeen
		if first.IsZero() {
			first = f.Time
		}
		if last.IsZero() || last.Before(first) {
			last = first
		}
		q.Start, q.End, q.Anchor = first.Add(-act.Options.Window), last.Add(act.Options.Window), f.Time
		around = a.ID
	} else {
		since := req.Since
		if since <= 0 {
			since = 24 * time.Hour
		}
		q.Start, q.End = now.Add(-since), now
	}
	if q.End.After(now) {
		q.End = now
	}
	q.Start, q.End = q.Start.UTC().Truncate(time.Second), q.End.UTC().Truncate(time.Second)
	key := "principal:" + q.Key()
	if alert != nil {
		key = "alert:" + alert.ID
	}
	who := plainValue(q.Principal, 200)
	if !act.claim(key) {
		where := "for this period"
		if alert != nil {
			where = "around `" + alert.ID + "`"
		}
		return nil, Reply{Ephemeral: true, Failed: "rejected", Text: fmt.Sprintf("The activity of `%s` %s is already being looked up; the answer will replace the placeholder.", who, where)}
	}
	if alert != nil {
		if err := s.Store.Audit(workflows.AuditEntry{Actor: id.Actor(), AlertID: alert.ID, Action: "activity", Note: "looked up the activity of " + truncate(q.Principal, 200)}); err != nil {
			s.log().Error("audit activity lookup", "actor", id.Actor(), "alert", alert.ID, "err", err)
		}
	}
	s.log().Info("activity lookup", "actor", id.Actor(), "alert", around, "principal", q.Principal, "start", q.Start, "end", q.End)
	job := &ActivityJob{
		Placeholder: fmt.Sprintf("Looking up the activity of `%s` %s ...", who, describeWindow(q, around)),
		Alert:       alert,
		Actors:      []string{id.Actor()},
		free:        func() { act.release(key) },
	}
	job.run = func(ctx context.Context) string {
		start := time.Now()
		res, cached, err := act.lookup(ctx, q, s.now())
		observeActivity(id.Platform, err, cached, time.Since(start))
		if err != nil {
			s.log().Error("activity lookup failed", "actor", id.Actor(), "alert", around, "err", err)
			return ActivityErrorText(q, around, err)
		}
		return ActivityText(q, around, res, act.Options.MaxRows, id.Actor())
	}
	return job, Reply{}
}

// runActivity performs a lookup at once, for callers without a thread to
// post a placeholder in (the command line, adapters that do not
// translate OpActivity).
func (s *Service) runActivity(ctx context.Context, id Identity, role Role, req ActivityRequest) Reply {
	job, r := s.startActivity(ctx, id, role, req)
	if job == nil {
		return r
	}
	return Reply{Text: job.Run(ctx), Actors: job.Actors}
}

// describeWindow says where and when a lookup reads: "in account
// 111122223333 (eu-west-1), 2026-03-02 07:00 to 09:00 UTC, around TH-3".
func describeWindow(q activity.Query, around string) string {
	var b strings.Builder
	if q.Account != "" {
		fmt.Fprintf(&b, "in account `%s` ", plainValue(q.Account, 20))
	}
	if q.Region != "" {
		fmt.Fprintf(&b, "(%s) ", plainValue(q.Region, 30))
	}
	end := q.End.Format("15:04")
	if q.End.Format("2006-01-02") != q.Start.Format("2006-01-02") {
		end = q.End.Format("2006-01-02 15:04")
	}
	fmt.Fprintf(&b, "from %s to %s UTC", q.Start.Format("2006-01-02 15:04"), end)
	if around != "" {
		fmt.Fprintf(&b, ", around `%s`", around)
	}
	return b.String()
}

// ActivityText renders a lookup's answer as a compact timeline, one call
// a line: time, action, target, source IP and error. It shows at most
// maxRows calls and says how many more the window holds. Every value from
// the logs is shown in a code span, without backticks or line breaks.
func ActivityText(q activity.Query, around string, res activity.Result, maxRows int, asker string) string {
	var b strings.Builder
	who := plainValue(q.Principal, 200)
	fmt.Fprintf(&b, "Activity of `%s` %s:\n", who, describeWindow(q, around))
	if len(res.Rows) == 0 {
		b.WriteString("No calls found in this window.\n")
	}
	layout := "15:04:05"
	if q.Start.Format("2006-01-02") != q.End.Format("2006-01-02") {
		layout = "01-02 15:04:05"
	}
	rows := res.Rows
	if maxRows > 0 && len(rows) > maxRows {
		rows = rows[:maxRows]
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "• `%s` `%s`", r.Time.UTC().Format(layout), plainValue(r.Action, 100))
		if r.Target != "" {
			fmt.Fprintf(&b, " on `%s`", plainValue(r.Target, 120))
		}
		if r.SourceIP != "" {
			fmt.Fprintf(&b, " from `%s`", plainValue(r.SourceIP, 64))
		}
		if r.Error != "" {
			fmt.Fprintf(&b, ", error `%s`", plainValue(r.Error, 64))
		}
		b.WriteString("\n")
	}
	total := max(res.Total, len(res.Rows))
	if more := total - len(rows); more > 0 {
		if res.Truncated {
			fmt.Fprintf(&b, "… and at least %d more calls not shown.\n", more)
		} else {
			fmt.Fprintf(&b, "… and %d more %s not shown.\n", more, plural(more, "call", "calls"))
		}
	}
	count := fmt.Sprintf("%d %s", total, plural(total, "call", "calls"))
	if res.Truncated {
		count = "at least " + count + " (the lookup stopped counting there)"
	}
	fmt.Fprintf(&b, "%s, from %s, with the bot's credentials", count, plainValue(res.Engine, 60))
	if len(res.Unread) > 0 {
		fmt.Fprintf(&b, "; could not read %s (the error is logged)", plainValue(strings.Join(res.Unread, ", "), 300))
	}
	if res.Unreadable > 0 {
		fmt.Fprintf(&b, "; %d %s could not be read", res.Unreadable, plural(res.Unreadable, "record", "records"))
	}
	fmt.Fprintf(&b, ". Asked by %s.", asker)
	if res.Note != "" {
		b.WriteString("\nNote: " + plainValue(res.Note, 400))
	}
	return b.String()
}

// ActivityErrorText is the answer when a lookup failed: what went wrong
// in a sentence the user can act on.
func ActivityErrorText(q activity.Query, around string, err error) string {
	what := fmt.Sprintf("Could not look up the activity of `%s` %s. ", plainValue(q.Principal, 200), describeWindow(q, around))
	if errors.Is(err, context.Canceled) {
		return what + "The lookup was stopped (the bot is shutting down)."
	}
	return what + activity.Describe(err)
}

// plainValue makes a log value safe inside a code span: no backticks,
// line breaks or control characters, at most n runes.
func plainValue(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '`':
			return '\''
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if s == "" {
		return "-"
	}
	return truncate(s, n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

var metricActivity = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "trailhound_activity_lookup_seconds",
	Help:    "Time to answer an activity lookup from chat, by platform and result (ok, cached, error).",
	Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60},
}, []string{"platform", "result"})

func observeActivity(platform string, err error, cached bool, d time.Duration) {
	result := "ok"
	switch {
	case err != nil:
		result = "error"
	case cached:
		result = "cached"
	}
	metricActivity.WithLabelValues(platform, result).Observe(d.Seconds())
}
