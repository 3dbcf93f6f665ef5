package anomaly

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// aggregateOf groups events as the athena source's aggregate query does
// (principal, address, client, API, outcome, hour) and returns each
// group's first event, count and last time, oldest first.
func aggregateOf(evs []*sources.Event) []struct {
	ev   *sources.Event
	n    int
	last time.Time
} {
	type group struct {
		ev   *sources.Event
		n    int
		last time.Time
	}
	groups := map[string]*group{}
	var order []string
	for _, ev := range evs {
		p := ev.Principal
		k := strings.Join([]string{ev.Account, ev.Region, ev.Service, ev.Action, ev.EventType, fmt.Sprint(ev.ReadOnly), ev.ErrorCode,
			ev.ErrorMessage, ev.SourceIP, ev.UserAgent, p.Type, p.ARN, p.AccountID, p.Name, p.InvokedBy, ev.Time.Truncate(time.Hour).String()}, "\x00")
		g := groups[k]
		if g == nil {
			g = &group{ev: ev, last: ev.Time}
			groups[k] = g
			order = append(order, k)
		}
		g.n++
		if ev.Time.After(g.last) {
			g.last = ev.Time
		}
	}
	out := make([]struct {
		ev   *sources.Event
		n    int
		last time.Time
	}, 0, len(order))
	for _, k := range order {
		g := groups[k]
		out = append(out, struct {
			ev   *sources.Event
			n    int
			last time.Time
		}{g.ev, g.n, g.last})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ev.Time.Before(out[j].ev.Time) })
	return out
}

// TestLearnCountMatchesEvents: a baseline learned from aggregates (one
// call per group with its count) judges the later events as the baseline
// learned event by event does: the same first-seen, off-hours and spike
// findings, and the same summary. The silence detector, which learns the
// gaps between events, is left out: its gaps are learned at spread
// times.
func TestLearnCountMatchesEvents(t *testing.T) {
	var evs []*sources.Event
	// Three weeks of routine for two people, then a judged day with
	// new APIs, an off-hours sign-in and a burst.
	start := time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)
	evs = append(evs, routine(21, start, "alice")...)
	evs = append(evs, routine(21, start, "bob")...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	cut := start.AddDate(0, 0, 20)
	var learnPart, judgePart []*sources.Event
	for _, ev := range evs {
		if ev.Time.Before(cut) {
			learnPart = append(learnPart, ev)
		} else {
			judgePart = append(judgePart, ev)
		}
	}
	burst := cut.Add(26 * time.Hour)
	for i := 0; i < 60; i++ {
		judgePart = append(judgePart, mkEvent(user("alice"), at(burst.Add(time.Duration(i)*time.Second)), call("s3.amazonaws.com", "GetObject"), ip("203.0.113.10")))
	}
	judgePart = append(judgePart, mkEvent(user("bob"), at(cut.Add(30*time.Hour)), write("iam.amazonaws.com", "CreateAccessKey"), ip("198.51.100.99"), ua("Boto3/1.34.0")))
	judgePart = append(judgePart, mkEvent(user("alice"), at(cut.Add(46*time.Hour)), call("signin.amazonaws.com", "ConsoleLogin"), ip("198.51.100.7")))
	cfg := testConfig()
	byEvent, byGroup := newSuite(t, nil, cfg), newSuite(t, nil, cfg)
	learnAll(byEvent, learnPart)
	groups := aggregateOf(learnPart)
	if len(groups) >= len(learnPart) {
		t.Fatalf("%d groups for %d events: aggregation shows nothing", len(groups), len(learnPart))
	}
	learned := 0
	for _, g := range groups {
		learned += byGroup.LearnCount(g.ev, g.n, g.last)
	}
	if learned != len(learnPart) {
		t.Fatalf("learned %d of %d events from aggregates", learned, len(learnPart))
	}
	a, b := byEvent.Summary(), byGroup.Summary()
	if a.Learned != b.Learned || a.Principals != b.Principals || a.Ready != b.Ready {
		t.Fatalf("summary by group=%+v, by event=%+v", b, a)
	}
	judge := func(s *Suite) []string {
		var out []string
		eng := []detectors.Detector{s.FirstSeen, s.OffHours, s.Spike}
		for _, ev := range judgePart {
			for _, d := range eng {
				fs, err := d.Detect(t.Context(), ev)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range fs {
					out = append(out, f.RuleID+" "+f.Fingerprint+" "+f.Reason)
				}
			}
		}
		return out
	}
	got, want := judge(byGroup), judge(byEvent)
	if len(want) == 0 {
		t.Fatal("the judged events raise nothing: the test shows nothing")
	}
	t.Logf("%d events learned as %d aggregates; %d findings on the judged events", len(learnPart), len(groups), len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings from aggregates:\n%s\nwant (from events):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Learning the same aggregates again learns nothing more.
	again := 0
	for _, g := range groups {
		again += byGroup.LearnCount(g.ev, g.n, g.last)
	}
	if again != 0 {
		t.Errorf("learned %d events twice", again)
	}
}

// TestDetectCountMatchesEvents: a judged day fed as aggregates (one
// DetectCount per group) raises the same first-seen, off-hours and spike
// findings as the same events fed one by one, to two suites that learned
// the same baseline; reading the same groups again (a window's overlap)
// raises nothing more, and a group that grew between two reads is judged
// only for its new events.
func TestDetectCountMatchesEvents(t *testing.T) {
	start := time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)
	learnPart := append(routine(20, start, "alice"), routine(20, start, "bob")...)
	sort.SliceStable(learnPart, func(i, j int) bool { return learnPart[i].Time.Before(learnPart[j].Time) })
	cut := start.AddDate(0, 0, 20)
	var judgePart []*sources.Event
	burst := cut.Add(26 * time.Hour)
	for i := 0; i < 60; i++ {
		judgePart = append(judgePart, mkEvent(user("alice"), at(burst.Add(time.Duration(i)*time.Second)), call("s3.amazonaws.com", "GetObject"), ip("203.0.113.10")))
	}
	judgePart = append(judgePart, mkEvent(user("bob"), at(cut.Add(30*time.Hour)), write("iam.amazonaws.com", "CreateAccessKey"), ip("198.51.100.99"), ua("Boto3/1.34.0")))
	judgePart = append(judgePart, mkEvent(user("alice"), at(cut.Add(46*time.Hour)), call("signin.amazonaws.com", "ConsoleLogin"), ip("198.51.100.7")))
	cfg := testConfig()
	byEvent, byGroup := newSuite(t, nil, cfg), newSuite(t, nil, cfg)
	learnAll(byEvent, learnPart)
	learnAll(byGroup, learnPart)

	key := func(f detectors.Finding) string { return f.RuleID + " " + f.Reason }
	var want []string
	for _, ev := range judgePart {
		for _, f := range detect(t, byEvent, ev) {
			want = append(want, key(f))
		}
	}
	groups := aggregateOf(judgePart)
	if len(groups) >= len(judgePart) {
		t.Fatalf("%d groups for %d events: aggregation shows nothing", len(groups), len(judgePart))
	}
	var got []string
	fps := map[string]bool{}
	for _, g := range groups {
		fs, err := byGroup.DetectCount(t.Context(), tally(g.ev, g.n, g.last))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if len(f.EventIDs) != 1 || f.EventIDs[0] != g.ev.ID {
				t.Errorf("%s names events %v, want the sample %s", f.RuleID, f.EventIDs, g.ev.ID)
			}
			got = append(got, key(f))
			fps[f.Fingerprint] = true
		}
	}
	if len(want) == 0 {
		t.Fatal("the judged events raise nothing: the test shows nothing")
	}
	sort.Strings(got)
	sort.Strings(want)
	t.Logf("%d judged events as %d aggregates; %d findings", len(judgePart), len(groups), len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings from aggregates:\n%s\nwant (from events):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The overlap: the same groups read again raise nothing.
	for _, g := range groups {
		fs, err := byGroup.DetectCount(t.Context(), tally(g.ev, g.n, g.last))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			t.Errorf("read again, group %s raised %s (%s)", g.ev.ID, f.RuleID, f.Reason)
		}
	}
	// A group that grew since the last read (bob's off-hours call, once
	// more a minute later) raises what the one new event raises, no more:
	// its copies judged already are skipped.
	var g *struct {
		ev   *sources.Event
		n    int
		last time.Time
	}
	for i := range groups {
		if groups[i].ev.Action == "CreateAccessKey" {
			g = &groups[i]
		}
	}
	more := *g.ev
	more.ID, more.Time = "bob-again", g.last.Add(time.Minute)
	want = want[:0]
	for _, f := range detect(t, byEvent, &more) {
		want = append(want, key(f))
	}
	fs, err := byGroup.DetectCount(t.Context(), tally(g.ev, g.n+1, more.Time))
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, f := range fs {
		got = append(got, key(f))
		if fps[f.Fingerprint] {
			t.Errorf("grown group raised %s again (fingerprint %s)", f.RuleID, f.Fingerprint)
		}
	}
	if len(want) == 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("grown group raised:\n%s\nwant (the new event alone):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// tally is the event a per-poll aggregate query hands on for a group:
// ev's fields, a key naming the group, ev's id as the sample.
func tally(ev *sources.Event, n int, last time.Time) *sources.Event {
	c := *ev
	c.ID = "agg-" + ev.ID + "/" + fmt.Sprint(n)
	c.Tally = &sources.Tally{Count: n, Last: last, Key: "agg-" + ev.ID, Sample: ev.ID}
	return &c
}
