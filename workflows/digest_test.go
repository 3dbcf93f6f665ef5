package workflows

import (
	"bytes"
	"flag"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func day(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }

// digestDataset builds a week whose numbers are known: t0 is Wednesday
// 2026-11-25 09:00 UTC and the digest covers the seven days before it.
func digestDataset(t *testing.T, s *Store, c *clock) map[string]string {
	t.Helper()
	ids := map[string]string{}
	newAlert := func(name, rule string, sev detectors.Severity, at time.Time) string {
		c.now = at
		f := finding(rule, "fp-"+name, "g-"+name, at, sev)
		f.Title = "Title of " + rule
		ids[name] = ingest(t, s, f).New[0].ID
		return ids[name]
	}
	act := func(name string, action Action, at time.Time) {
		t.Helper()
		c.now = at
		if _, err := s.Apply(Change{AlertID: ids[name], Action: action, Actor: "slack:U1"}); err != nil {
			t.Fatal(err)
		}
	}
	newAlert("A0", "aws-old", detectors.High, day(15, 9, 0)) // before the period, still open
	newAlert("A1", "aws-root", detectors.Critical, day(18, 10, 0))
	act("A1", ActionAcknowledge, day(18, 10, 5))
	act("A1", ActionResolve, day(18, 12, 0))
	newAlert("A2", "aws-sg", detectors.High, day(19, 10, 0))
	act("A2", ActionAcknowledge, day(19, 10, 10))
	act("A2", ActionFalsePositive, day(19, 11, 0))
	newAlert("A3", "aws-sg", detectors.High, day(19, 12, 0))
	act("A3", ActionAcknowledge, day(19, 12, 20))
	act("A3", ActionResolve, day(19, 15, 0))
	newAlert("A4", "aws-login", detectors.Medium, day(20, 10, 0))
	c.now = day(21, 10, 0)
	g1, g2 := finding("aws-login", "fp-A4b", "g-A4", day(21, 9, 0), detectors.Medium), finding("aws-login", "fp-A4c", "g-A4", day(21, 9, 30), detectors.Medium)
	if res := ingest(t, s, g1, g2); len(res.Grouped) != 1 || res.Grouped[0].Count != 3 {
		t.Fatalf("grouping=%+v", res)
	}
	act("A4", ActionAcknowledge, day(20, 11, 0))
	newAlert("A5", "aws-login", detectors.Low, day(21, 12, 0))
	c.now = day(22, 8, 0)
	if _, err := s.CreateSilence(Silence{RuleID: "noisy", Reason: "load test this week"}, 5*24*time.Hour, "slack:U1"); err != nil {
		t.Fatal(err)
	}
	newAlert("A6", "noisy", detectors.Medium, day(22, 10, 0))
	newAlert("A7", "aws-sg", detectors.Info, day(24, 10, 0))
	act("A7", ActionAcknowledge, day(24, 10, 40))
	act("A7", ActionFalsePositive, day(24, 11, 10))
	c.now = day(20, 12, 0)
	if _, err := s.CreateTask(TaskInput{AlertID: ids["A4"], Assignee: "slack:UDEV", Due: day(23, 12, 0), Title: "Require MFA for the console user"}, "slack:U1"); err != nil {
		t.Fatal(err)
	}
	done, err := s.CreateTask(TaskInput{AlertID: ids["A1"], Assignee: "Dana", Due: day(20, 12, 0)}, "slack:U1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetTaskStatus(done.ID, TaskDone, "Dana", ""); err != nil {
		t.Fatal(err)
	}
	c.now = t0
	return ids
}

var digestHealth = []sources.Health{
	{Source: "prod-cloudtrail", LastPoll: t0.Add(-5 * time.Minute), LastSuccess: t0.Add(-5 * time.Minute), Events: 1200, Malformed: 2},
	{Source: "vpc-flow", LastPoll: t0.Add(-5 * time.Minute), LastSuccess: day(24, 9, 0), LastError: "AccessDeniedException: not authorized to perform logs:FilterLogEvents", Permanent: true},
}

func TestDigestNumbers(t *testing.T) {
	s, c := newStore(t)
	ids := digestDataset(t, s, c)
	d, err := s.BuildDigest(DigestOptions{Name: "weekly", Since: t0.Add(-7 * 24 * time.Hour), Until: t0, Health: digestHealth})
	if err != nil {
		t.Fatal(err)
	}
	if d.NewAlerts != 7 || d.Findings != 9 || d.Suppressed != 1 {
		t.Fatalf("new=%d findings=%d suppressed=%d, want 7, 9, 1", d.NewAlerts, d.Findings, d.Suppressed)
	}
	sev := map[detectors.Severity][2]int{}
	for _, sc := range d.BySeverity {
		sev[sc.Severity] = [2]int{sc.Alerts, sc.Findings}
	}
	wantSev := map[detectors.Severity][2]int{detectors.Critical: {1, 1}, detectors.High: {2, 2}, detectors.Medium: {2, 4}, detectors.Low: {1, 1}, detectors.Info: {1, 1}}
	if !reflect.DeepEqual(sev, wantSev) {
		t.Fatalf("by severity=%v, want %v", sev, wantSev)
	}
	// Acknowledged in the period after 5m, 10m, 20m, 1h and 40m: median
	// 20m, p90 (nearest rank 5 of 5) 1h.
	if a := d.Acknowledge; a.N != 5 || a.Median != 20*time.Minute || a.P90 != time.Hour {
		t.Fatalf("time to acknowledge=%+v, want 5, 20m, 1h", a)
	}
	// Resolved after 2h, 1h, 3h and 1h10m: median (1h10m+2h)/2 = 1h35m,
	// p90 (nearest rank 4 of 4) 3h.
	if r := d.Resolve; r.N != 4 || r.Median != 95*time.Minute || r.P90 != 3*time.Hour {
		t.Fatalf("time to resolve=%+v, want 4, 1h35m, 3h", r)
	}
	var sg RuleCount
	for _, r := range d.ByRule {
		if r.RuleID == "aws-sg" {
			sg = r
		}
	}
	if rate, ok := sg.FalsePositiveRate(); sg.Alerts != 3 || sg.Resolved != 3 || sg.FalsePositives != 2 || !ok || rate < 0.66 || rate > 0.67 {
		t.Fatalf("aws-sg=%+v rate=%v, want 3 alerts, 2 of 3 false positives", sg, rate)
	}
	if d.Noisiest[0].RuleID != "aws-login" || d.Noisiest[0].Findings != 4 {
		t.Fatalf("noisiest=%+v, want aws-login with 4 findings first", d.Noisiest)
	}
	var open []string
	for _, o := range d.Open {
		open = append(open, o.ID)
	}
	if want := []string{ids["A0"], ids["A4"], ids["A5"]}; !reflect.DeepEqual(open, want) || d.OpenTotal != 3 {
		t.Fatalf("open=%v (total %d), want %v", open, d.OpenTotal, want)
	}
	if len(d.Overdue) != 1 || d.Overdue[0].AlertID != ids["A4"] {
		t.Fatalf("overdue=%+v", d.Overdue)
	}
	if len(d.Silences) != 1 || d.Silences[0].Matched != 1 {
		t.Fatalf("silences=%+v", d.Silences)
	}
	var perDay []int
	for _, dc := range d.Days {
		perDay = append(perDay, dc.Total())
	}
	if want := []int{1, 2, 1, 3, 1, 0, 1, 0}; !reflect.DeepEqual(perDay, want) {
		t.Fatalf("findings per day=%v, want %v", perDay, want)
	}
}

func TestSummarizeDurations(t *testing.T) {
	m := time.Minute
	tests := []struct {
		in          []time.Duration
		median, p90 time.Duration
	}{
		{nil, 0, 0},
		{[]time.Duration{7 * m}, 7 * m, 7 * m},
		{[]time.Duration{4 * m, 2 * m}, 3 * m, 4 * m},
		{[]time.Duration{10 * m, 1 * m, 9 * m, 2 * m, 8 * m, 3 * m, 7 * m, 4 * m, 6 * m, 5 * m}, 5*m + 30*time.Second, 9 * m},
		{[]time.Duration{1 * m, 2 * m, 3 * m, 4 * m, 5 * m, 6 * m, 7 * m, 8 * m, 9 * m, 10 * m, 11 * m}, 6 * m, 10 * m},
	}
	for _, tc := range tests {
		got := SummarizeDurations(tc.in)
		if got.Median != tc.median || got.P90 != tc.p90 || got.N != len(tc.in) {
			t.Errorf("SummarizeDurations(%v)=%+v, want median %v p90 %v", tc.in, got, tc.median, tc.p90)
		}
	}
}

func TestDigestMarkdownGolden(t *testing.T) {
	s, c := newStore(t)
	digestDataset(t, s, c)
	d, err := s.BuildDigest(DigestOptions{Name: "weekly", Since: t0.Add(-7 * 24 * time.Hour), Until: t0, Health: digestHealth})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct{ file, got string }{{"digest.golden.md", d.Markdown()}, {"digest.golden.txt", d.Text()}} {
		path := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(path, []byte(g.got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if g.got != string(want) {
			t.Errorf("%s differs (go test -update rewrites it):\n%s", g.file, g.got)
		}
	}
}

// chartDigest is a week with a backfill: findings from five days of 2021
// stored on one day of the period, next to the week's own findings.
func chartDigest() *Digest {
	since := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	d := &Digest{Since: since, Until: since.Add(7 * 24 * time.Hour)}
	for i, n := range []int{120, 300, 90, 200, 35} {
		dc := DayCount{Day: time.Date(2021, 5, 3+i, 0, 0, 0, 0, time.UTC)}
		dc.Findings[detectors.Medium] = n * 2 / 3
		dc.Findings[detectors.High] = n - n*2/3
		d.Days = append(d.Days, dc)
	}
	for i := range 7 {
		dc := DayCount{Day: since.Add(time.Duration(i) * 24 * time.Hour), InPeriod: true, Opened: i % 3, Closed: (i + 1) % 2}
		dc.Findings[detectors.Critical] = i % 2
		dc.Findings[detectors.Low] = 3 + i
		dc.Stored = dc.Total()
		if i == 2 {
			dc.Stored += 745
		}
		if i%2 == 1 {
			dc.Acknowledge = Durations{N: 1, Median: time.Duration(i) * 20 * time.Minute}
			dc.Resolve = Durations{N: 1, Median: time.Duration(i) * 3 * time.Hour}
		}
		d.Days = append(d.Days, dc)
	}
	d.Acknowledge = Durations{N: 3, Median: 80 * time.Minute}
	d.Resolve = Durations{N: 3, Median: 9 * time.Hour}
	return d
}

func TestChartPNG(t *testing.T) {
	b, err := Chart(chartDigest())
	if err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("TRAILHOUND_CHART_OUT"); out != "" {
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if sz := img.Bounds().Size(); sz.X != ChartWidth || sz.Y != ChartHeight {
		t.Fatalf("size=%v, want %dx%d", sz, ChartWidth, ChartHeight)
	}
	// Count the pixels of each colour in the top panel (findings).
	count := map[color.RGBA]int{}
	for y := 0; y < ChartHeight/3; y++ {
		for x := 0; x < ChartWidth; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			count[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xFF}]++
		}
	}
	for _, s := range []detectors.Severity{detectors.Critical, detectors.High, detectors.Medium, detectors.Low} {
		if count[severityRGB[s]] == 0 {
			t.Errorf("no %s bars", s)
		}
	}
	if count[chartStored] == 0 {
		t.Errorf("no line of the findings stored per day, though it differs from the events' days")
	}
	// The 2021 backfill is drawn on its own days: medium bars (200 of the
	// 745 findings are medium) outweigh the week's low ones by far.
	if count[severityRGB[detectors.Medium]] < 5*count[severityRGB[detectors.Low]] {
		t.Errorf("medium=%d low=%d pixels: the backfill is not drawn on its days", count[severityRGB[detectors.Medium]], count[severityRGB[detectors.Low]])
	}
}

const digestYAML = `
workflows:
  digests:
    - name: weekly
      schedule: "0 9 * * 1"
      since: 7d
      targets: [{notifier: slack, channel: CREVIEW}]
`

// TestDigestSchedule posts a weekly digest at its scheduled time, once,
// across a restart, and only the latest after downtime.
func TestDigestSchedule(t *testing.T) {
	path := t.TempDir() + "/th.db"
	db := testdb.OpenAt(t, path)
	s, _ := NewStore(db)
	c := &clock{now: t0}
	s.Now, s.Config = c.Now, configFromYAML(t, digestYAML)
	sched := func(s *Store, at time.Time) int {
		t.Helper()
		n, err := (&DigestScheduler{Store: s, Health: func() ([]sources.Health, error) { return digestHealth, nil }}).Tick(at)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ingest(t, s, finding("r", "fp", "g", t0, detectors.High))
	if n := sched(s, t0); n != 0 {
		t.Fatalf("first tick queued %d: it only starts the schedule", n)
	}
	if n := sched(s, day(30, 8, 59)); n != 0 {
		t.Fatalf("queued %d before Monday 09:00", n)
	}
	c.now = day(30, 9, 0)
	if n := sched(s, c.now); n != 1 {
		t.Fatalf("queued %d at Monday 09:00, want 1", n)
	}
	testdb.Close(t, db) // restart before anything was posted
	db = testdb.OpenAt(t, path)
	s, _ = NewStore(db)
	s.Now, s.Config = c.Now, configFromYAML(t, digestYAML)
	if n := sched(s, day(30, 9, 5)); n != 0 {
		t.Fatalf("queued %d again after the restart", n)
	}
	slack := &funcNotifier{name: "slack"}
	dispatch(t, s, slack)
	var digests []Notification
	for _, n := range slack.got {
		if n.Kind == NotifyDigest {
			digests = append(digests, n)
		}
	}
	if len(digests) != 1 {
		t.Fatalf("digests posted=%d, want 1", len(digests))
	}
	d := digests[0]
	if d.Channel != "CREVIEW" || d.Key != "digest-weekly-20261130T0900Z" || d.Alert.ID != "" ||
		!strings.HasPrefix(d.Text, "Trailhound weekly digest, 2026-11-23 09:00 UTC to 2026-11-30 09:00 UTC (7d)") {
		t.Fatalf("digest=%+v", d)
	}
	if d.Attachment == nil || d.Attachment.ContentType != "image/png" || d.Attachment.Name != "trailhound-weekly-2026-11-30.png" {
		t.Fatalf("attachment=%+v", d.Attachment)
	}
	if _, err := png.Decode(bytes.NewReader(d.Attachment.Data)); err != nil {
		t.Fatalf("attachment is not a PNG: %v", err)
	}
	// Down for two weeks: only the latest missed digest is posted.
	c.now = day(30, 9, 0).Add(15*24*time.Hour + time.Hour)
	if n := sched(s, c.now); n != 1 {
		t.Fatalf("queued %d after downtime, want 1", n)
	}
	slack.reset()
	dispatch(t, s, slack)
	if len(slack.got) != 1 || slack.got[0].Key != "digest-weekly-20261214T0900Z" {
		t.Fatalf("after downtime got %v", slack.kinds())
	}
	var queued int
	_ = s.DB().View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
			if bytes.Contains(v, []byte(`"digest_queued"`)) {
				queued++
			}
			return nil
		})
	})
	if queued != 2 {
		t.Fatalf("digest audit entries=%d, want 2", queued)
	}
}
