package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources/athena/athenatest"
)

// TestBaselineFromAthenaAggregates: `baseline` over an Athena source
// learns from one GROUP BY query, a row per hour of like calls, what it
// would learn from every event: the same counts, the principal ready, and
// the same first-seen judgement of new activity afterwards.
func TestBaselineFromAthenaAggregates(t *testing.T) {
	awsEnv(t)
	dir := inTempDir(t)
	end := time.Now().Add(-5 * time.Hour).Truncate(time.Minute)
	hist := filepath.Join(dir, "history.jsonl")
	n := writeHistory(t, hist, end)
	fake := athenatest.New(t)
	fake.Add(t, athenatest.ReadLines(t, hist)...)
	cfg := filepath.Join(dir, "trailhound.yaml")
	body := fmt.Sprintf(`data_dir: ./data
sources:
  - name: trail
    type: athena
    options:
      endpoint_url: %s
      regions: [eu-west-1]
      database: cloudtrail
      table: cloudtrail_logs_pp
      output_location: s3://athena-results/trailhound/
      max_attempts: 2
      max_backoff: 5ms
detectors:
  anomaly:
    learning: {min_age: 1d, min_events: 20}
`, fake.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "baseline", "--config", cfg, "--since", "4d")
	if code != exitOK {
		t.Fatalf("exit=%d\n%s\n%s", code, out, errOut)
	}
	qs := fake.Queries()
	if len(qs) != 1 || !strings.Contains(qs[0], "GROUP BY") || !strings.Contains(qs[0], "count(*) AS n") {
		t.Fatalf("queries=%q, want one aggregate query", qs)
	}
	// One row per hour of alice's routine: 73 hours hold the 433 events.
	hours := int(end.Sub(end.Add(-72*time.Hour)).Hours()) + 1
	if !strings.Contains(out, fmt.Sprintf("trail: %d events counted in %d rows of one Athena aggregate query", n, hours)) {
		t.Fatalf("output:\n%s\nwant %d events counted in %d rows", out, n, hours)
	}
	t.Log(strings.SplitN(out, "\n", 2)[0])
	if !strings.Contains(out, fmt.Sprintf("%d learned, 0 already learned", n)) ||
		!strings.Contains(out, "1 principal with a baseline, 1 past their learning period") {
		t.Fatalf("summary:\n%s\nwant all %d learned and alice ready", out, n)
	}
	// Learned again: nothing twice.
	code, out, errOut = runCLI(t, "baseline", "--config", cfg, "--since", "4d")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("0 learned, %d already learned or repeated", n)) {
		t.Fatalf("second run exit=%d:\n%s\n%s", code, out, errOut)
	}
	scanAttackAgainstBaseline(t, dir, cfg, end)
}
