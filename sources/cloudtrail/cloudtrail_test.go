package cloudtrail

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

var base = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// newSource returns a source reading the fake server as the default
// credentials' account in awstest.Region.
func newSource(t *testing.T, ct *awstest.CloudTrail, rps float64, mod func(o *Options)) (*Source, *clock) {
	t.Helper()
	awstest.Credentials(t)
	opts := Options{Options: awssrc.Options{
		Regions: []string{awstest.Region}, EndpointURL: ct.URL, MaxAttempts: 5,
		MaxBackoff: configs.Duration(5 * time.Millisecond), RequestsPerSecond: rps,
	}}
	if mod != nil {
		mod(&opts)
	}
	if err := opts.Validate(configs.Section{}); err != nil {
		t.Fatalf("validate: %v", err)
	}
	targets, err := opts.Targets(context.Background())
	if err != nil {
		t.Fatalf("targets: %v", err)
	}
	src := New(targets[0].Name("ct"), targets[0], opts)
	c := &clock{t: base}
	src.Now = c.now
	return src, c
}

// addEvents adds n records, one a second, ending 1s before end, and
// returns their ids oldest first.
func addEvents(t *testing.T, ct *awstest.CloudTrail, prefix string, n int, end time.Time) []string {
	t.Helper()
	return addSpaced(t, ct, prefix, n, end, time.Second)
}

// addSpaced adds n records step apart, the last one step before end.
func addSpaced(t *testing.T, ct *awstest.CloudTrail, prefix string, n int, end time.Time, step time.Duration) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		at := end.Add(-time.Duration(n-i) * step)
		if err := ct.Add(awstest.Record(id, at, "GetUser", false)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func collect(t *testing.T, fetch func(sink sources.Sink) error) ([]sources.Event, []sources.Malformed, error) {
	t.Helper()
	var evs []sources.Event
	var bad []sources.Malformed
	err := fetch(sources.FuncSink{
		OnEvent:     func(_ context.Context, ev *sources.Event) error { evs = append(evs, *ev); return nil },
		OnMalformed: func(m sources.Malformed) { bad = append(bad, m) },
	})
	return evs, bad, err
}

// distinctTokens returns the NextToken of each distinct page requested,
// in order.
func distinctTokens(reqs []awstest.LookupRequest) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range reqs {
		if !seen[r.NextToken] {
			seen[r.NextToken] = true
			out = append(out, r.NextToken)
		}
	}
	return out
}

func TestPaginationOldestFirst(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	want := addEvents(t, ct, "ev", 120, base)
	src, _ := newSource(t, ct, 1000, nil)
	var cp []byte
	evs, bad, err := collect(t, func(sink sources.Sink) (err error) {
		cp, err = src.Fetch(context.Background(), nil, sink)
		return err
	})
	if err != nil || len(bad) > 0 {
		t.Fatalf("fetch: err=%v malformed=%v", err, bad)
	}
	if len(evs) != len(want) {
		t.Fatalf("events=%d, want %d", len(evs), len(want))
	}
	for i, ev := range evs {
		if ev.ID != want[i] {
			t.Fatalf("event %d id=%s, want %s (oldest first)", i, ev.ID, want[i])
		}
		if ev.Source != "ct/"+awstest.Region || ev.Action != "GetUser" || ev.Principal.Name != "alice" {
			t.Fatalf("event %d = %+v, want normalised GetUser by alice from ct/%s", i, ev, awstest.Region)
		}
	}
	// The SDK may resend a request whose connection it closed itself
	// (aws/aws-sdk-go-v2#2737), so count distinct pages.
	reqs := ct.Requests()
	if tokens := distinctTokens(reqs); len(tokens) != 3 || tokens[0] != "" || tokens[1] == "" || tokens[2] == "" {
		t.Fatalf("page tokens=%q, want none then two: 3 pages of at most 50", tokens)
	}
	if got, want := reqs[0].Start, base.Add(-time.Hour); !got.Equal(want) {
		t.Fatalf("first window start=%v, want %v (initial lookback)", got, want)
	}
	c, err := awssrc.ParseCheckpoint(cp)
	if err != nil || !c.Marks[""].End.Equal(base) {
		t.Fatalf("checkpoint=%s (%v), want end %v", cp, err, base)
	}
}

func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	want := addEvents(t, ct, "ev", 60, base)
	ct.Fail(awstest.Throttled, awstest.Throttled, awstest.Unavailable, awstest.InternalErr)
	src, _ := newSource(t, ct, 1000, func(o *Options) { o.MaxAttempts = 8 })
	h := awstest.NewHarness(t)
	if _, err := h.Poll(src); err != nil {
		t.Fatalf("poll: %v", err)
	}
	h.ExactlyOnce(want)
	reqs := ct.Requests()
	statuses := []int{}
	for _, r := range reqs[:4] {
		statuses = append(statuses, r.Status)
	}
	if fmt.Sprint(statuses) != "[400 400 503 500]" || len(distinctTokens(reqs[4:])) != 2 {
		t.Fatalf("requests=%+v, want two throttled, 503, 500, then two pages", reqs)
	}
	if hl := h.Health(src.Name()); hl.LastError != "" || hl.LastSuccess.IsZero() {
		t.Fatalf("health=%+v, want success", hl)
	}
}

func TestGivesUpAfterMaxAttemptsAsTransient(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	addEvents(t, ct, "ev", 3, base)
	for i := 0; i < 10; i++ {
		ct.Fail(awstest.Throttled)
	}
	src, _ := newSource(t, ct, 1000, func(o *Options) { o.MaxAttempts = 3 })
	h := awstest.NewHarness(t)
	_, err := h.Poll(src)
	if err == nil {
		t.Fatal("poll succeeded, want throttling error")
	}
	if got := sources.Classify(err); got != sources.ClassThrottled {
		t.Fatalf("class=%v, want throttled (%v)", got, err)
	}
	if n := len(ct.Requests()); n != 3 {
		t.Fatalf("requests=%d, want 3 attempts", n)
	}
	hl := h.Health(src.Name())
	if hl.Permanent || !strings.Contains(hl.LastError, "ThrottlingException") {
		t.Fatalf("health=%+v, want a transient throttling error", hl)
	}
}

func TestRateLimitPacesRequests(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	addEvents(t, ct, "ev", 8*50, base)
	const rps = 20
	src, _ := newSource(t, ct, rps, nil)
	if _, _, err := collect(t, func(sink sources.Sink) error { _, err := src.Fetch(context.Background(), nil, sink); return err }); err != nil {
		t.Fatal(err)
	}
	reqs := ct.Requests()
	if len(distinctTokens(reqs)) != 8 || len(reqs) < 8 {
		t.Fatalf("requests=%d, want 8 pages", len(reqs))
	}
	// A limiter of 20/s with a burst of one lets the 8th request through
	// no sooner than 7/20 s after the first.
	if span, min := reqs[7].At.Sub(reqs[0].At), 7*time.Second/rps*9/10; span < min {
		t.Fatalf("8 requests within %v, want at least %v at %d/s", span, min, rps)
	}
}

func TestAccessDeniedIsPermanentHealthProblem(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	want := addEvents(t, ct, "ev", 5, base)
	ct.Fail(awstest.AccessDenied)
	src, _ := newSource(t, ct, 1000, nil)
	h := awstest.NewHarness(t)
	_, err := h.Poll(src)
	if !errors.Is(err, sources.ErrPermanent) || sources.Classify(err) != sources.ClassUnauthorized {
		t.Fatalf("err=%v (class %v), want permanent unauthorized", err, sources.Classify(err))
	}
	if n := len(ct.Requests()); n >= 5 {
		t.Fatalf("requests=%d, want access denied not retried up to max_attempts", n)
	}
	hl := h.Health(src.Name())
	if !hl.Permanent || !strings.Contains(hl.LastError, "AccessDeniedException") {
		t.Fatalf("health=%+v, want permanent AccessDeniedException", hl)
	}
	probs := sources.Problems([]sources.Health{hl}, []string{src.Name()}, base, base, 0, sources.ProblemLimits{})
	if len(probs) != 1 || probs[0].Kind != sources.ProblemPermanent {
		t.Fatalf("problems=%+v, want one permanent-error", probs)
	}
	// Once the policy is fixed the next poll reads everything and clears
	// the problem.
	if _, err := h.Poll(src); err != nil {
		t.Fatalf("second poll: %v", err)
	}
	h.ExactlyOnce(want)
	if hl := h.Health(src.Name()); hl.Permanent || hl.LastError != "" {
		t.Fatalf("health=%+v, want cleared", hl)
	}
}

func TestLateEventFoundOnceAcrossRestart(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	first := addEvents(t, ct, "early", 10, base)
	src, clk := newSource(t, ct, 1000, nil)
	h := awstest.NewHarness(t)
	if _, err := h.Poll(src); err != nil {
		t.Fatal(err)
	}
	// Five minutes later CloudTrail delivers an event that happened four
	// minutes before the first poll's window ended; the checkpoint has
	// moved past it. The process restarts in between.
	late := awstest.Record("late-1", base.Add(-4*time.Minute), "CreateUser", false)
	if err := ct.Add(late); err != nil {
		t.Fatal(err)
	}
	h.Restart()
	clk.t = base.Add(5 * time.Minute)
	res, err := h.Poll(src)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 1 || res.Skipped != len(first) {
		t.Fatalf("second poll events=%d skipped=%d, want 1 new and %d repeats from the overlap", res.Events, res.Skipped, len(first))
	}
	reqs := ct.Requests()
	if got, want := reqs[len(reqs)-1].Start, base.Add(-DefaultLagForTest); !got.Equal(want) {
		t.Fatalf("second window start=%v, want %v (previous end less the lag)", got, want)
	}
	h.ExactlyOnce(append(first, "late-1"))
}

// DefaultLagForTest is the lag the sources default to.
const DefaultLagForTest = awssrc.DefaultLag

func TestRestartMidPollLosesNothing(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	want := addSpaced(t, ct, "ev", 200, base, 15*time.Second)
	src, _ := newSource(t, ct, 1000, nil)
	// Buffer at most 60 events so the window is read in slices and the
	// first slices are handed on before the failure.
	src.maxBuffered = 60
	// Slices of the last 20 minutes fail; earlier ones are handed on.
	ct.FailWhen(func(r awstest.LookupRequest) bool { return !r.Start.Before(base.Add(-20 * time.Minute)) }, awstest.InternalErr)
	h := awstest.NewHarness(t)
	res, err := h.Poll(src)
	if err == nil {
		t.Fatal("poll succeeded, want the injected 500")
	}
	if res.Events == 0 || res.Events >= len(want) {
		t.Fatalf("first poll processed %d events, want part of %d", res.Events, len(want))
	}
	if cp, _ := h.Sources.Checkpoint(src.Name()); cp != nil {
		t.Fatalf("checkpoint=%s after a failed poll, want none", cp)
	}
	// The process restarts; a new source and job resume from the same DB.
	h.Restart()
	ct.FailWhen(nil, awstest.Failure{})
	src2, _ := newSource(t, ct, 1000, nil)
	src2.maxBuffered = 60
	res2, err := h.Poll(src2)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Events+res.Events != len(want) || res2.Skipped != res.Events {
		t.Fatalf("polls processed %d+%d, skipped %d; want %d in all, the first poll's skipped", res.Events, res2.Events, res2.Skipped, len(want))
	}
	h.ExactlyOnce(want)
}

func TestMalformedRecordsReportedOthersRead(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	want := addEvents(t, ct, "ev", 3, base)
	ct.AddRaw("bad-json", base.Add(-10*time.Second), `{"eventVersion":"1.08",`)
	ct.AddRaw("no-name", base.Add(-11*time.Second), `{"eventVersion":"1.08","eventTime":"2026-01-10T11:59:49Z","eventSource":"iam.amazonaws.com"}`)
	src, _ := newSource(t, ct, 1000, nil)
	evs, bad, err := collect(t, func(sink sources.Sink) error { _, err := src.Fetch(context.Background(), nil, sink); return err })
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(want) || len(bad) != 2 {
		t.Fatalf("events=%d malformed=%v, want %d and 2", len(evs), bad, len(want))
	}
	for _, m := range bad {
		if !strings.Contains(m.Where, "event bad-json") && !strings.Contains(m.Where, "event no-name") {
			t.Fatalf("malformed where=%q, want it to name the event", m.Where)
		}
	}
}

func TestLookupAttributeAndRange(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	if err := ct.Add(awstest.Record("a", base.Add(-3*time.Hour), "CreateUser", false), awstest.Record("b", base.Add(-2*time.Hour), "GetUser", false),
		awstest.Record("c", base.Add(-30*time.Minute), "CreateUser", true)); err != nil {
		t.Fatal(err)
	}
	src, _ := newSource(t, ct, 1000, func(o *Options) { o.LookupAttribute = &Attribute{Key: "EventName", Value: "CreateUser"} })
	evs, _, err := collect(t, func(sink sources.Sink) error {
		return src.FetchRange(context.Background(), sources.Window{Start: base.Add(-4 * time.Hour)}, sink)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].ID != "a" || evs[1].ID != "c" {
		t.Fatalf("events=%v, want a then c", evs)
	}
	r := ct.Requests()[0]
	if fmt.Sprint(r.Attributes) != "[map[EventName:CreateUser]]" || !r.Start.Equal(base.Add(-4*time.Hour)) || !r.End.Equal(base) {
		t.Fatalf("request=%+v, want EventName=CreateUser over the range", r)
	}
	// Through sources.InWindow, as `trailhound scan --since` uses it, with
	// the root-use detector.
	h := awstest.NewHarness(t)
	h.Extra = []detectors.Detector{awstest.Rule(t, "aws-root-account-use")}
	job := h.Job(sources.InWindow(src, sources.Window{Start: base.Add(-time.Hour)}))
	job.Stateful = false
	res, err := job.Run(context.Background())
	if err != nil || res.Events != 1 || len(res.Findings) != 2 {
		t.Fatalf("scan events=%v findings=%d err=%v, want root use found in c", res.Events, len(res.Findings), err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"no regions", `{}`, "regions: at least one region is required"},
		{"bad region", `{regions: [eu-west]}`, `"eu-west" is not an AWS region name`},
		{"bad account", `{regions: [eu-west-1], accounts: [{id: 12345}]}`, "is not a 12-digit AWS account id"},
		{"bad role", `{regions: [eu-west-1], accounts: [{id: "123456789012", role_arn: "arn:aws:iam::1:user/x"}]}`, "is not an IAM role ARN"},
		{"external id without role", `{regions: [eu-west-1], accounts: [{id: "123456789012", external_id: abcdef}]}`, "an external id needs role_arn"},
		{"both external ids", `{regions: [eu-west-1], accounts: [{id: "123456789012", role_arn: "arn:aws:iam::123456789012:role/r", external_id: abcdef, external_id_file: /x}]}`, "give only one of"},
		{"bad attribute", `{regions: [eu-west-1], lookup_attribute: {key: Bucket, value: x}}`, `"Bucket" is not one of`},
		{"lag over window", `{regions: [eu-west-1], lag: 2h, max_window: 1h}`, "lag: must be shorter than max_window"},
		{"lookback over retention", `{regions: [eu-west-1], initial_lookback: 91d}`, "initial_lookback: must not exceed"},
		{"unknown key", `{regions: [eu-west-1], region: eu-west-1}`, `unknown key`},
		{"endpoint", `{regions: [eu-west-1], endpoint_url: "localhost:4566"}`, "is not an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configs.Parse([]byte("sources:\n  - name: ct\n    type: cloudtrail\n    options: "+tc.yaml+"\n"), "test.yaml", func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			var opts Options
			err = cfg.Sources[0].Options.Decode(&opts)
			if err == nil {
				err = opts.Validate(cfg.Sources[0].Options)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
			if strings.Contains(fmt.Sprint(err), "abcdef") {
				t.Fatalf("error %q reveals the external id", err)
			}
		})
	}
}

// TestThirtyPercentFaults: with 30% of LookupEvents calls throttled or
// failing with 5xx, polls (with the SDK's retries, then the next poll)
// still deliver every event exactly once, including events that arrive
// late between polls.
func TestThirtyPercentFaults(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	want := addSpaced(t, ct, "early", 300, base, 10*time.Second)
	src, c := newSource(t, ct, 1000, nil)
	src.maxBuffered = 50
	rng := rand.New(rand.NewPCG(7, 30))
	var mu sync.Mutex
	failures := 0
	flaky := func(awstest.LookupRequest) bool {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() < 0.3 {
			failures++
			return true
		}
		return false
	}
	h := awstest.NewHarness(t)
	polls, failed := 0, 0
	for round := 0; round < 3; round++ {
		// Alternate throttling and server errors by round.
		f := awstest.Throttled
		if round%2 == 1 {
			f = awstest.Unavailable
		}
		ct.FailWhen(flaky, f)
		if round > 0 {
			// Time moves on: new events, and one late event stamped inside
			// the window the previous poll already read.
			c.t = c.t.Add(5 * time.Minute)
			want = append(want, addSpaced(t, ct, fmt.Sprintf("round%d", round), 20, c.t, 10*time.Second)...)
			late := fmt.Sprintf("late-%d", round)
			if err := ct.Add(awstest.Record(late, c.t.Add(-7*time.Minute), "GetUser", false)); err != nil {
				t.Fatal(err)
			}
			want = append(want, late)
		}
		for ok := false; !ok; {
			polls++
			if polls > 30 {
				t.Fatalf("no successful poll in 30 tries (%d failures injected)", failures)
			}
			if _, err := h.Poll(src); err != nil {
				failed++
				continue
			}
			ok = true
		}
	}
	ct.FailWhen(nil, awstest.Failure{})
	t.Logf("%d polls (%d failed), %d of %d requests failed", polls, failed, failures, len(ct.Requests()))
	if failures == 0 {
		t.Fatal("no failure was injected")
	}
	h.ExactlyOnce(want)
}
