package anomaly

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
)

// steady feeds s an event of src every interval for span, ending at end.
func steady(t *testing.T, s *Suite, src string, span, interval time.Duration, end time.Time, opts ...evOpt) {
	t.Helper()
	for at0 := end.Add(-span); !at0.After(end); at0 = at0.Add(interval) {
		detect(t, s, mkEvent(append([]evOpt{source(src), at(at0)}, opts...)...))
	}
}

func TestSilence(t *testing.T) {
	last := t0
	tests := []struct {
		name    string
		span    time.Duration // of history before last
		every   time.Duration
		checkAt time.Duration // after last
		fires   bool
		want    string
	}{
		{"busy source, quiet 30m", 48 * time.Hour, 5 * time.Minute, 30 * time.Minute, false, ""},
		{"busy source, quiet 90m", 48 * time.Hour, 5 * time.Minute, 90 * time.Minute, true,
			"no events from source trail since 2026-03-02 10:00 UTC (1h30m ago); its longest quiet spell over its last 3 days with events, 2026-02-28 to 2026-03-02, was 5m (threshold 1h00m)"},
		{"sparse source: 2h gaps are usual, quiet 3h", 72 * time.Hour, 2 * time.Hour, 3 * time.Hour, false, ""},
		{"sparse source, quiet 5h", 72 * time.Hour, 2 * time.Hour, 5 * time.Hour, true, "longest quiet spell over its last 4 days with events, 2026-02-27 to 2026-03-02, was 2h00m (threshold 4h00m)"},
		{"too little history", 12 * time.Hour, 5 * time.Minute, 10 * time.Hour, false, ""},
		{"too few events", 72 * time.Hour, 2 * time.Hour, 40 * time.Hour, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			c.Silence.MinEvents = 20
			if tc.name == "too few events" {
				c.Silence.MinEvents = 1000
				tc.fires = false
			}
			s := newSuite(t, nil, c) // started at t0
			steady(t, s, "trail", tc.span, tc.every, last)
			fs := s.Silence.Check(context.Background(), last.Add(tc.checkAt))
			if got := len(fs) > 0; got != tc.fires {
				t.Fatalf("fired=%v, want %v (%v)", got, tc.fires, reasons(fs))
			}
			if !tc.fires {
				return
			}
			f := fs[0]
			if f.RuleID != RuleSourceSilent || f.Severity != detectors.Medium || f.Source != "trail" {
				t.Fatalf("finding=%+v", f)
			}
			if !strings.Contains(f.Reason, tc.want) {
				t.Fatalf("reason=%q, want it to contain %q", f.Reason, tc.want)
			}
		})
	}
}

func TestSilenceEpisodes(t *testing.T) {
	s := newSuite(t, nil, testConfig())
	steady(t, s, "trail", 48*time.Hour, 5*time.Minute, t0)
	ctx := context.Background()
	first := s.Silence.Check(ctx, t0.Add(2*time.Hour))
	again := s.Silence.Check(ctx, t0.Add(3*time.Hour))
	if len(first) != 1 || len(again) != 1 {
		t.Fatalf("findings=%d then %d, want 1 and 1", len(first), len(again))
	}
	if first[0].Fingerprint != again[0].Fingerprint {
		t.Fatal("the same silence gave two fingerprints")
	}
	// Events resume: no finding; a later silence is a new one in the same
	// group, judged as before: the outage was not learned as usual.
	steady(t, s, "trail", time.Hour, 5*time.Minute, t0.Add(5*time.Hour))
	if fs := s.Silence.Check(ctx, t0.Add(5*time.Hour+10*time.Minute)); len(fs) != 0 {
		t.Fatalf("resumed source fired: %v", reasons(fs))
	}
	later := s.Silence.Check(ctx, t0.Add(8*time.Hour))
	if len(later) != 1 || later[0].Fingerprint == first[0].Fingerprint || later[0].GroupKey != first[0].GroupKey {
		t.Fatalf("later silence: %v", reasons(later))
	}
}

func TestSilenceStartupGrace(t *testing.T) {
	db := testdb.Open(t)
	s := newSuite(t, db, testConfig())
	steady(t, s, "trail", 48*time.Hour, 5*time.Minute, t0.Add(-10*time.Hour))
	saveSuite(t, db, s)
	// A bot started at t0 after 10 hours down: its polls catch up first.
	s2, err := New(db, testConfig(), Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if fs := s2.Silence.Check(context.Background(), t0.Add(30*time.Minute)); len(fs) != 0 {
		t.Fatalf("fired during start-up grace: %v", reasons(fs))
	}
	if fs := s2.Silence.Check(context.Background(), t0.Add(61*time.Minute)); len(fs) != 1 {
		t.Fatalf("findings=%d after grace, want 1 (state reloaded)", len(fs))
	}
	// `run --once` checks after its polls: no grace.
	s3, err := New(db, testConfig(), Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	s3.Silence.SetGrace(0)
	if fs := s3.Silence.Check(context.Background(), t0); len(fs) != 1 {
		t.Fatalf("findings=%d without grace, want 1", len(fs))
	}
}

func TestSilenceByAccount(t *testing.T) {
	c := testConfig()
	c.Silence.By = []string{"account", "region"}
	s := newSuite(t, nil, c)
	steady(t, s, "org-trail", 48*time.Hour, 5*time.Minute, t0.Add(30*time.Minute), account("111111111111"))
	steady(t, s, "org-trail", 48*time.Hour, 5*time.Minute, t0.Add(-3*time.Hour), account("222222222222"))
	fs := s.Silence.Check(context.Background(), t0.Add(61*time.Minute))
	if len(fs) != 1 || fs[0].Account != "222222222222" || !strings.Contains(fs[0].Reason, "source org-trail (account 222222222222, region eu-west-1)") {
		t.Fatalf("findings=%v, want account 222222222222 only", reasons(fs))
	}
}

// TestSilenceReasonNamesItsDays: the usual quiet spell is measured over
// the last days with events, which for logs years apart are not "the last
// 14 days": the reason names them, and the advice points to
// `trailhound sources`.
func TestSilenceReasonNamesItsDays(t *testing.T) {
	c := testConfig()
	c.Silence.MinEvents = 20
	s := newSuite(t, nil, c)
	old := t0.Add(-387 * 24 * time.Hour)
	steady(t, s, "samples", 2*time.Hour, 5*time.Minute, old)
	steady(t, s, "samples", 2*time.Hour, 5*time.Minute, t0)
	fs := s.Silence.Check(context.Background(), t0.Add(2000*24*time.Hour))
	if len(fs) != 1 {
		t.Fatalf("findings=%v, want one", reasons(fs))
	}
	want := "its longest quiet spell over its last 2 days with events, " + old.Format("2006-01-02") + " to " + t0.Format("2006-01-02") + ", was 386d"
	if !strings.Contains(fs[0].Reason, want) || strings.Contains(fs[0].Reason, "14 days") {
		t.Fatalf("reason=%q, want it to contain %q", fs[0].Reason, want)
	}
	if !strings.Contains(fs[0].Recommendation, "`trailhound sources`") || strings.Contains(fs[0].Recommendation, "trailhound findings") {
		t.Fatalf("recommendation=%q", fs[0].Recommendation)
	}
}
