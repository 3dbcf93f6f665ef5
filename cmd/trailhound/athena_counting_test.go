package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources/athena/athenatest"
)

// TestAthenaPollCountsAnomalies: `run --once` over an athena source with
// the anomaly detectors on runs the rules' pushed-down query (not every
// row) and one aggregate query; the anomaly detectors judge the counted
// groups and raise their first-seen findings with the real event as
// evidence; a second poll over the overlap adds no alert.
func TestAthenaPollCountsAnomalies(t *testing.T) {
	awsEnv(t)
	dir := inTempDir(t)
	now := time.Now().UTC()
	end := now.Add(-3 * time.Hour).Truncate(time.Minute)
	hist := filepath.Join(dir, "history.jsonl")
	writeHistory(t, hist, end)
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
      initial_lookback: 2h
      lag: 15m
detectors:
  anomaly:
    learning: {min_age: 1d, min_events: 20}
`, fake.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "baseline", "--config", cfg, "--since", "4d"); code != exitOK {
		t.Fatalf("baseline exit=%d\n%s\n%s", code, out, errOut)
	}
	// The poll's window: alice's routine goes on, and one new call from
	// a new network.
	inWindow := 0
	for at := now.Add(-100 * time.Minute); at.Before(now.Add(-20 * time.Minute)); at = at.Add(2 * time.Minute) {
		fake.Add(t, []byte(ctLine(t, at, fmt.Sprintf("win-%d", at.Unix()), "alice", "198.51.100.7", "ec2.amazonaws.com", "DescribeInstances", true)))
		inWindow++
	}
	fake.Add(t, []byte(ctLine(t, now.Add(-5*time.Minute), "attack-1", "alice", "203.0.113.66", "iam.amazonaws.com", "CreateUser", false)))
	inWindow++
	before := len(fake.Queries())
	code, out, errOut := runCLI(t, "run", "--config", cfg, "--once")
	if code != exitOK {
		t.Fatalf("run exit=%d:\n%s\n%s", code, out, errOut)
	}
	qs := fake.Queries()[before:]
	if len(qs) != 2 || strings.Contains(qs[0], "GROUP BY") || !strings.Contains(qs[0], "eventname") || !strings.Contains(qs[1], "GROUP BY") {
		t.Fatalf("queries of the poll:\n%s\nwant the events query with a condition, then the aggregate query", strings.Join(qs, "\n---\n"))
	}
	// One first-seen alert, grouping alice's two firsts (the API and the
	// network), with the real event as evidence.
	firstSeen := func() (count int, ids string) {
		_, out, _ := runCLI(t, "findings", "--config", cfg, "--rule", "trailhound-first-seen", "--format", "json")
		var as []struct {
			Count   int `json:"count"`
			Finding struct {
				EventIDs []string `json:"event_ids"`
			} `json:"finding"`
		}
		if err := json.Unmarshal([]byte(out), &as); err != nil || len(as) != 1 {
			t.Fatalf("first-seen alerts: %v\n%s\nwant one", err, out)
		}
		return as[0].Count, strings.Join(as[0].Finding.EventIDs, ",")
	}
	if n, ids := firstSeen(); n != 2 || ids != "attack-1" {
		t.Fatalf("first-seen alert of %d findings naming %q, want 2 naming attack-1", n, ids)
	}
	t.Logf("poll window of %d events: the events query and one aggregate query", inWindow)
	// The next poll reads the overlap (from 15m back, counting from the
	// start of that hour) again, the new call in it: no new finding.
	if code, out, errOut := runCLI(t, "run", "--config", cfg, "--once"); code != exitOK {
		t.Fatalf("second run exit=%d:\n%s\n%s", code, out, errOut)
	}
	if n, _ := firstSeen(); n != 2 {
		t.Fatalf("after a second poll the first-seen alert has %d findings, want 2", n)
	}
}
