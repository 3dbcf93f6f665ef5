package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/trailhound/trailhound/detectors/rules/pushdown"
	"github.com/trailhound/trailhound/sources"
)

// TestCloudWatchFilterPatternDerived: a cloudwatch source configured with
// filter_pattern: rules sends FilterLogEvents the pattern derived from the
// enabled rules, and none when a rule may match any record (or, as the
// anomaly baselines do, a detector needs every event).
func TestCloudWatchFilterPatternDerived(t *testing.T) {
	awsEnv(t)
	var mu sync.Mutex
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			FilterPattern string `json:"filterPattern"`
		}
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") != "Logs_20140328.FilterLogEvents" || json.Unmarshal(b, &in) != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		sent = append(sent, in.FilterPattern)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"events":[],"searchedLogStreams":[]}`)
	}))
	defer srv.Close()
	rules := `- id: my-trail-stopped
  title: Trail stopped
  severity: high
  description: D.
  recommendation: R.
  match: {service: cloudtrail.amazonaws.com, action: [StopLogging, DeleteTrail]}
- id: my-root
  title: Root
  severity: high
  description: D.
  recommendation: R.
  match: {principal.type: Root, by_service: "false"}
`
	for _, tc := range []struct {
		name, extra string
		want        string
	}{
		{"derived", "", `{ (($.eventSource = "cloudtrail.amazonaws.com") && (($.eventName = "StopLogging") || ($.eventName = "DeleteTrail"))) || ($.userIdentity.type = "Root") }`},
		{"a rule of any record", `- id: my-ua
  title: UA
  severity: low
  description: D.
  recommendation: R.
  match: {user_agent: {contains: kali}}
`, ""},
		{"baselines on", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "rules", "mine.yaml"), []byte(rules+tc.extra), 0o600); err != nil {
				t.Fatal(err)
			}
			disable := "[trailhound-first-seen, trailhound-rate-spike, trailhound-off-hours, trailhound-unusual-location, trailhound-source-silent]"
			if tc.name == "baselines on" {
				disable = "[]"
			}
			cfg := fmt.Sprintf(`data_dir: %s
notify: {terminal: "true"}
detectors:
  # The baselines learn from every event: with them on, no pattern.
  disable: %s
  rules: {builtin: false, dirs: [rules]}
sources:
  - name: logs
    type: cloudwatch
    schedule: "@every 5m"
    options: {endpoint_url: %s, regions: [eu-west-1], log_groups: [trail], max_backoff: 10ms, filter_pattern: rules}
`, filepath.Join(dir, "data"), disable, srv.URL)
			path := filepath.Join(dir, "trailhound.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			a, err := openApp(&env{stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv}, c)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			srcs, err := a.buildSources(nil)
			if err != nil || len(srcs) != 1 {
				t.Fatalf("sources=%v, err=%v", srcs, err)
			}
			mu.Lock()
			sent = nil
			mu.Unlock()
			sink := sources.FuncSink{OnEvent: func(context.Context, *sources.Event) error { return nil }}
			if _, err := srcs[0].Fetch(context.Background(), nil, sink); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sent) == 0 || sent[0] != tc.want {
				t.Fatalf("patterns sent=%q, want %q", sent, tc.want)
			}
			if len(tc.want) > pushdown.MaxFilterPattern {
				t.Fatalf("pattern longer than CloudWatch accepts")
			}
		})
	}
}
