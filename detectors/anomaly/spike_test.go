package anomaly

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

func spikeConfig() Config {
	c := testConfig()
	c.Spike.MinCount = 100
	c.Spike.AccountMinCount = 100000 // judge the principal only
	return c
}

func TestSpike(t *testing.T) {
	// 14 days of ~6 calls per active hour (routine), then an hour with n
	// calls.
	tests := []struct {
		name  string
		n     int
		fires bool
	}{
		{"usual hour", 6, false},
		{"busy but below min count", 90, false},
		{"spike", 300, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSuite(t, nil, spikeConfig())
			learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
			var fs []detectors.Finding
			for i := 0; i < tc.n; i++ {
				fs = append(fs, only(detect(t, s, mkEvent(at(t0.Add(time.Duration(i)*time.Second)))), RuleSpike)...)
			}
			if got := len(fs) > 0; got != tc.fires {
				t.Fatalf("fired=%v, want %v (%v)", got, tc.fires, reasons(fs))
			}
			if !tc.fires {
				return
			}
			if len(fs) != 1 {
				t.Fatalf("findings=%d, want one per key and hour", len(fs))
			}
			f := fs[0]
			if f.Severity != detectors.Medium || f.EventCount != 100 {
				t.Fatalf("severity=%v count=%d, want medium and 100 (the crossing)", f.Severity, f.EventCount)
			}
			want := "100 events by alice in the hour from 2026-03-02 10:00 UTC; usually 6 ± 0 per active hour over "
			if !strings.HasPrefix(f.Reason, want) {
				t.Fatalf("reason=%q, want prefix %q", f.Reason, want)
			}
		})
	}
}

func TestSpikeNeedsActiveHours(t *testing.T) {
	c := spikeConfig()
	c.Spike.MinActiveHours = 1000
	s := newSuite(t, nil, c)
	learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
	for i := 0; i < 500; i++ {
		if fs := only(detect(t, s, mkEvent(at(t0.Add(time.Duration(i)*time.Second)))), RuleSpike); len(fs) > 0 {
			t.Fatalf("fired with too few active hours: %v", reasons(fs))
		}
	}
}

func TestSpikeNewPrincipal(t *testing.T) {
	s := newSuite(t, nil, spikeConfig())
	learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
	for i := 0; i < 500; i++ {
		if fs := only(detect(t, s, mkEvent(user("mallory"), at(t0.Add(time.Duration(i)*time.Second)))), RuleSpike); len(fs) > 0 {
			t.Fatalf("new principal fired: %v", reasons(fs))
		}
	}
}

func TestSpikeAccount(t *testing.T) {
	c := spikeConfig()
	c.Spike.AccountMinCount = 150
	c.Spike.MinCount = 100000
	s := newSuite(t, nil, c)
	learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
	// Many principals, each quiet, add up to a spike of the account.
	var fs []detectors.Finding
	for i := 0; i < 200; i++ {
		fs = append(fs, only(detect(t, s, mkEvent(user("u"+string(rune('a'+i%20))), at(t0.Add(time.Duration(i)*time.Second)))), RuleSpike)...)
	}
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "by account "+acct) {
		t.Fatalf("findings=%v, want one account spike", reasons(fs))
	}
	if fs[0].Principal.ARN != "" {
		t.Fatalf("account spike names principal %q", fs[0].Principal.ARN)
	}
}

func TestSpikeRepeatsDoNotCount(t *testing.T) {
	path := t.TempDir() + "/trailhound.db"
	db := testdb.OpenAt(t, path)
	s := newSuite(t, db, spikeConfig())
	hist := routine(14, t0.AddDate(0, 0, -14), "alice")
	learnAll(s, hist)
	// The same 80 events read three times (overlapping windows) count 80,
	// not 240: no spike.
	batch := calls(80, t0)
	for round := 0; round < 3; round++ {
		for _, e := range batch {
			if fs := only(detect(t, s, e), RuleSpike); len(fs) > 0 {
				t.Fatalf("round %d: repeats made a spike: %v", round, reasons(fs))
			}
		}
	}
	saveSuite(t, db, s)
	testdb.Close(t, db)

	// After a restart the baseline is the same: a second baseline run over
	// the same history is skipped, and the counts did not grow.
	db = testdb.OpenAt(t, path)
	s = newSuite(t, db, spikeConfig())
	learnAll(s, hist)
	if s.learned != 0 || s.skipped != int64(len(hist)) {
		t.Fatalf("learned=%d skipped=%d, want 0 and %d", s.learned, s.skipped, len(hist))
	}
	p := s.Spike.tab.get("principal|"+acct+"|arn:aws:iam::"+acct+":user/alice", false)
	if got := p.H.Events; got != int64(len(hist)+80) {
		t.Fatalf("events=%d, want %d", got, len(hist)+80)
	}
	for _, b := range p.Buckets {
		if b.Hour == t0.Unix()/3600 && b.N != 80 {
			t.Fatalf("current hour count=%d, want 80", b.N)
		}
	}
}

// calls returns n read calls of alice, a second apart from start.
func calls(n int, start time.Time) []*sources.Event {
	var out []*sources.Event
	for i := 0; i < n; i++ {
		out = append(out, mkEvent(at(start.Add(time.Duration(i)*time.Second))))
	}
	return out
}
