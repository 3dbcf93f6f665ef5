package bot

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/trailhound/trailhound/sources/activity"
	"github.com/trailhound/trailhound/workflows"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenText compares text with testdata/name.golden.txt.
func goldenText(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from the golden file (go test -update rewrites it):\n%s", path, got)
	}
}

// fakeReader is an ActivityReader whose answers the test decides; gate,
// when set, holds every lookup until it is closed.
type fakeReader struct {
	calls    atomic.Int32
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	gate     chan struct{}
	started  chan activity.Query
	res      activity.Result
	err      error
}

func (f *fakeReader) Activity(ctx context.Context, q activity.Query, limit int) (activity.Result, error) {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if f.started != nil {
		f.started <- q
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return activity.Result{}, ctx.Err()
		}
	}
	res := f.res
	res.Rows = activity.Pick(append([]activity.Row(nil), res.Rows...), limit, q.Anchor)
	return res, f.err
}

func rows(n int, at time.Time) []activity.Row {
	var out []activity.Row
	for i := range n {
		out = append(out, activity.Row{Time: at.Add(time.Duration(i) * time.Minute), Action: "s3:GetObject", Target: fmt.Sprintf("bucket-%02d", i), SourceIP: "198.51.100.23"})
	}
	return out
}

var window = activity.Query{Principal: "alice", Account: "111122223333", Region: "eu-west-1",
	Start: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}

func TestActivityTextGolden(t *testing.T) {
	at := window.Start.Add(30 * time.Minute)
	hostile := "`x` <@U0CISO>\n**bold** @here"
	for _, tc := range []struct {
		name   string
		q      activity.Query
		around string
		res    activity.Result
	}{
		{"activity-timeline", window, "TH-12", activity.Result{Engine: "CloudTrail LookupEvents", Total: 4, Rows: []activity.Row{
			{Time: at, Action: "sts:GetCallerIdentity", SourceIP: "198.51.100.23"},
			{Time: at.Add(time.Minute), Action: "s3:PutBucketPolicy", Target: "payroll", SourceIP: "198.51.100.23"},
			{Time: at.Add(2 * time.Minute), Action: "iam:CreateAccessKey", Target: "admin", SourceIP: "203.0.113.9", Error: "AccessDenied"},
			{Time: at.Add(3 * time.Minute), Action: "cloudtrail:StopLogging", Target: "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org", SourceIP: "203.0.113.9"},
		}}},
		// 60 calls: 50 shown and the count of the rest.
		{"activity-bounded", window, "TH-12", activity.Result{Engine: "CloudTrail LookupEvents", Total: 60, Rows: rows(60, at)}},
		{"activity-truncated", activity.Query{Principal: "AKIAEXAMPLEALICE", Start: window.Start.Add(-48 * time.Hour), End: window.End}, "",
			activity.Result{Engine: "CloudWatch Logs Insights", Total: activity.MaxScan, Truncated: true, Unreadable: 2, Rows: rows(3, at)}},
		{"activity-empty", window, "TH-12", activity.Result{Engine: "CloudTrail LookupEvents"}},
		{"activity-hostile", activity.Query{Principal: hostile, Start: window.Start, End: window.End}, "", activity.Result{Engine: hostile, Total: 1, Rows: []activity.Row{
			{Time: at, Action: hostile, Target: hostile, SourceIP: hostile, Error: hostile}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goldenText(t, tc.name, ActivityText(tc.q, tc.around, tc.res, 50, "slack:UASKER"))
		})
	}
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	goldenText(t, "activity-error", ActivityErrorText(window, "TH-12", fmt.Errorf("cloudtrail: lookup events: %w", throttled)))
}

// The hostile timeline keeps every log value in a code span without
// backticks or line breaks, so platforms show it literally.
func TestActivityTextCodeSpans(t *testing.T) {
	q := activity.Query{Principal: "a`b", Start: window.Start, End: window.End}
	text := ActivityText(q, "", activity.Result{Engine: "e", Total: 1, Rows: []activity.Row{{Time: window.Start, Action: "x`\ny", Target: "``", SourceIP: "\n"}}}, 50, "slack:U1")
	for _, line := range strings.Split(text, "\n") {
		if strings.Count(line, "`")%2 != 0 {
			t.Fatalf("unbalanced code span in %q", line)
		}
	}
	if strings.Count(text, "\n") != 2 {
		t.Fatalf("a log value broke a line:\n%s", text)
	}
}

// activityService is newService with an activity reader and a clock the
// test moves.
func activityService(t *testing.T, r ActivityReader, o ActivityOptions) (*Service, string, *time.Time) {
	s, id := newService(t)
	clock := now
	s.Now = func() time.Time { return clock }
	s.Activity = &Activity{Reader: r, Options: o}
	return s, id, &clock
}

func TestActivityAroundAlert(t *testing.T) {
	r := &fakeReader{res: activity.Result{Engine: "CloudTrail LookupEvents", Total: 1, Rows: rows(1, now.Add(-time.Hour))}, started: make(chan activity.Query, 1)}
	s, id, _ := activityService(t, r, ActivityOptions{})
	job, reply := s.StartActivity(context.Background(), viewer, Viewer, ActivityRequest{AlertID: id})
	if job == nil {
		t.Fatalf("viewer refused: %+v", reply)
	}
	if job.Alert == nil || job.Alert.ID != id || !strings.HasPrefix(job.Placeholder, "Looking up the activity of `root` in account `111122223333`") {
		t.Fatalf("job=%+v", job)
	}
	text := job.Run(context.Background())
	q := <-r.started
	// One hour either side of the alert, up to now; the alert's account.
	if !q.Start.Equal(now.Add(-2*time.Hour)) || !q.End.Equal(now) || !q.Anchor.Equal(now.Add(-time.Hour)) || q.Account != "111122223333" || q.Principal != "root" {
		t.Fatalf("query=%+v", q)
	}
	if !strings.Contains(text, "`s3:GetObject` on `bucket-00`") || !strings.HasSuffix(text, "Asked by slack:UVIEW.") {
		t.Fatalf("text=%s", text)
	}
	log, _ := s.Store.AuditLog(id)
	if last := log[len(log)-1]; last.Action != "activity" || last.Actor != "slack:UVIEW" {
		t.Fatalf("audit=%+v", last)
	}
}

func TestActivityRefusedWithoutRole(t *testing.T) {
	r := &fakeReader{}
	s, id, _ := activityService(t, r, ActivityOptions{})
	job, reply := s.StartActivity(context.Background(), viewer, NoRole, ActivityRequest{AlertID: id})
	if job != nil || !reply.Refused || !strings.Contains(reply.Text, "does not allow you to look up activity") {
		t.Fatalf("job=%v reply=%+v", job, reply)
	}
	if MinRole[OpActivity] != Viewer {
		t.Fatalf("the Activity button needs %s, want viewer", MinRole[OpActivity])
	}
	if _, reply := s.StartActivity(context.Background(), viewer, Viewer, ActivityRequest{AlertID: "TH-999"}); reply.Failed != "rejected" {
		t.Fatalf("unknown alert: %+v", reply)
	}
	if r.calls.Load() != 0 {
		t.Fatal("a refused request reached the reader")
	}
}

// One lookup per alert at a time; the answer is cached per principal and
// window for CacheTTL.
func TestActivitySingleFlightAndCache(t *testing.T) {
	r := &fakeReader{res: activity.Result{Engine: "e", Total: 1, Rows: rows(1, now.Add(-time.Hour))}, gate: make(chan struct{}), started: make(chan activity.Query, 4)}
	s, id, clock := activityService(t, r, ActivityOptions{CacheTTL: 5 * time.Minute})
	ctx := context.Background()
	job, _ := s.StartActivity(ctx, viewer, Viewer, ActivityRequest{AlertID: id})
	done := make(chan string)
	go func() { done <- job.Run(ctx) }()
	<-r.started
	second, reply := s.StartActivity(ctx, analyst, Analyst, ActivityRequest{AlertID: id})
	if second != nil || !reply.Ephemeral || !strings.Contains(reply.Text, "already being looked up") {
		t.Fatalf("second press while running: job=%v reply=%+v", second, reply)
	}
	close(r.gate)
	<-done
	again, _ := s.StartActivity(ctx, analyst, Analyst, ActivityRequest{AlertID: id})
	if again == nil {
		t.Fatal("the alert stayed busy after its lookup ended")
	}
	if text := again.Run(ctx); !strings.Contains(text, "bucket-00") || r.calls.Load() != 1 {
		t.Fatalf("cached answer: calls=%d text=%s", r.calls.Load(), text)
	}
	*clock = clock.Add(6 * time.Minute)
	// The window moved with the clock only if the alert's end was cut at
	// now; the cache entry for the old window has expired either way.
	later, _ := s.StartActivity(ctx, analyst, Analyst, ActivityRequest{AlertID: id})
	later.Run(ctx)
	if r.calls.Load() != 2 {
		t.Fatalf("calls=%d after the cache expired, want 2", r.calls.Load())
	}
}

func TestActivityConcurrencyCap(t *testing.T) {
	r := &fakeReader{res: activity.Result{Engine: "e"}, gate: make(chan struct{}), started: make(chan activity.Query, 8)}
	s, _, _ := activityService(t, r, ActivityOptions{MaxConcurrent: 2})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 5 {
		job, reply := s.StartActivity(ctx, viewer, Viewer, ActivityRequest{Principal: fmt.Sprint("user", i), Since: time.Hour})
		if job == nil {
			t.Fatalf("lookup %d: %+v", i, reply)
		}
		wg.Add(1)
		go func() { defer wg.Done(); job.Run(ctx) }()
	}
	<-r.started
	<-r.started
	close(r.gate)
	wg.Wait()
	if r.calls.Load() != 5 || r.maxSeen.Load() != 2 {
		t.Fatalf("calls=%d most at once=%d, want 5 and 2", r.calls.Load(), r.maxSeen.Load())
	}
}

func TestActivityErrors(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	r := &fakeReader{err: fmt.Errorf("cloudtrail: lookup events: %w", throttled)}
	s, id, _ := activityService(t, r, ActivityOptions{})
	ctx := context.Background()
	for i := range 2 {
		job, _ := s.StartActivity(ctx, viewer, Viewer, ActivityRequest{AlertID: id})
		text := job.Run(ctx)
		if !strings.HasPrefix(text, "Could not look up the activity of `root`") || !strings.Contains(text, "AWS throttled the lookup") {
			t.Fatalf("attempt %d: %s", i, text)
		}
	}
	if r.calls.Load() != 2 {
		t.Fatalf("calls=%d: an error was cached", r.calls.Load())
	}
	// No engine configured: said in the thread, not pretended.
	s.Activity = &Activity{}
	job, _ := s.StartActivity(ctx, viewer, Viewer, ActivityRequest{AlertID: id})
	if text := job.Run(ctx); !strings.Contains(text, "No activity engine is configured") {
		t.Fatalf("no engine: %s", text)
	}
	// Run without a thread (the command line): one answer.
	reply := s.Run(ctx, viewer, Viewer, Command{Name: "activity", Principal: "alice", Since: time.Hour})
	if !strings.Contains(reply.Text, "No activity engine is configured") {
		t.Fatalf("command: %+v", reply)
	}
}

func TestActivityButtonOnEveryCallerCard(t *testing.T) {
	for _, st := range []workflows.State{workflows.StateNew, workflows.StateAcknowledged, workflows.StateResolved} {
		a := workflows.Alert{ID: "TH-1", State: st}
		a.Finding.Principal.Name = "alice"
		bs := ButtonsFor(a)
		if bs[len(bs)-1].Op != OpActivity {
			t.Fatalf("%s: buttons %+v lack Activity", st, bs)
		}
	}
	if bs := ButtonsFor(workflows.Alert{ID: "TH-1", State: workflows.StateNew}); bs[len(bs)-1].Op == OpActivity {
		t.Fatal("a card without a caller offers Activity")
	}
	op, id, err := ParseActionID(ActionID(OpActivity, "TH-3"))
	if err != nil || op != OpActivity || id != "TH-3" {
		t.Fatalf("action id: %v %v %v", op, id, err)
	}
}

func TestParseActivityCommand(t *testing.T) {
	for _, tc := range []struct {
		text string
		want Command
		err  string
	}{
		{text: "activity alice", want: Command{Name: "activity", Principal: "alice"}},
		{text: "activity alice --around th-12", want: Command{Name: "activity", Principal: "alice", ID: "TH-12"}},
		{text: "activity --around TH-12", want: Command{Name: "activity", ID: "TH-12"}},
		{text: "activity --since=7d arn:aws:iam::111122223333:user/alice", want: Command{Name: "activity", Principal: "arn:aws:iam::111122223333:user/alice", Since: 7 * 24 * time.Hour}},
		{text: "activity AKIAEXAMPLEALICE since 24h", want: Command{Name: "activity", Principal: "AKIAEXAMPLEALICE", Since: 24 * time.Hour}},
		{text: "activity", err: "give a principal, an alert (--around TH-12), or both"},
		{text: "activity alice --around TH-1 --since 1h", err: "give either --around or --since, not both"},
		{text: "activity alice bob", err: `give one principal, not "bob" too`},
		{text: "activity ali*", err: `"ali*" is not a principal name, ARN or access key id`},
		{text: "activity <@U0CISO>", err: `"<@U0CISO>" is not a principal name, ARN or access key id`},
		{text: "activity alice --around 12", err: `"12" is not an alert id (like TH-12)`},
		{text: "activity alice --since", err: "since needs a value"},
		{text: "activity alice --since 91d", err: "since is at most 90d"},
		{text: "activity alice --since 281474976710657d", err: "since is at most 90d"},
		{text: "activity alice --since -1h", err: `"-1h" is not a duration like 24h or 7d`},
		{text: "activity alice --since 0s", err: `"0s" is not a duration like 24h or 7d`},
		{text: "activity alice --until 1h", err: `unknown option "--until"`},
		{text: "activity alice --since 1h --since 2h", err: "give --since once"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			got, err := ParseCommand(tc.text)
			if tc.err != "" {
				if err == nil || !IsUsage(err) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), Usage["activity"]) {
					t.Fatalf("err=%v, want a usage error with %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v, want %+v", got, err, tc.want)
			}
		})
	}
}
