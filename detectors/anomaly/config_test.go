package anomaly

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/trailhound/trailhound/configs"
)

// decodeYAML decodes the detectors.anomaly section of a config file body.
func decodeYAML(t *testing.T, body string) (Config, error) {
	t.Helper()
	cfg, err := configs.Parse([]byte(body), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var dc struct {
		Anomaly configs.Section `yaml:"anomaly"`
	}
	if err := cfg.Detectors.Decode(&dc); err != nil {
		t.Fatal(err)
	}
	return Decode(dc.Anomaly)
}

func TestDecodeDefaults(t *testing.T) {
	c, err := decodeYAML(t, "data_dir: x\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Learning.MinAge.D() != 7*24*time.Hour || c.Learning.MinEvents != 50 {
		t.Fatalf("learning=%+v, want 7d and 50", c.Learning)
	}
	if c.OffHours.BusinessHours.TimeZone != "UTC" || c.OffHours.BusinessHours.Start != "08:00" || len(c.OffHours.BusinessHours.Days) != 5 {
		t.Fatalf("business hours=%+v", c.OffHours.BusinessHours)
	}
	if c.Silence.CheckSchedule != "@every 10m" || c.Silence.Factor != 2 {
		t.Fatalf("silence=%+v", c.Silence)
	}
}

func TestDecode(t *testing.T) {
	c, err := decodeYAML(t, `
detectors:
  anomaly:
    learning: {min_age: 14d, min_events: 300}
    first_seen:
      principal_terms: [source_ip, api_call]
      api_calls: all
    off_hours:
      business_hours: {time_zone: Europe/Berlin}
      accounts:
        "123456789012": {time_zone: America/New_York, days: [mon, tue]}
    silence: {by: [account], min_gap: 2h}
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Learning.MinAge.D() != 14*24*time.Hour || c.Learning.MinEvents != 300 {
		t.Fatalf("learning=%+v", c.Learning)
	}
	a := c.OffHours.Accounts["123456789012"]
	if a.TimeZone != "America/New_York" || a.Start != "08:00" || len(a.Days) != 2 {
		t.Fatalf("account hours=%+v, want New York, inherited 08:00, two days", a)
	}
	if c.FirstSeen.AccountTerms[0] != KindRegion || c.FirstSeen.APICalls != "all" {
		t.Fatalf("first seen=%+v", c.FirstSeen)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"unknown key", "detectors:\n  anomaly:\n    learnig: {}\n", `test.yaml:3: detectors.anomaly.learnig: unknown key (did you mean "learning"?)`},
		{"bad duration", "detectors:\n  anomaly:\n    learning:\n      min_age: soon\n", `test.yaml:4: detectors.anomaly.learning.min_age: invalid duration "soon"`},
		{"unknown term kind", "detectors:\n  anomaly:\n    first_seen:\n      principal_terms: [network, colour]\n", `test.yaml:4: detectors.anomaly.first_seen.principal_terms: item 2: unknown kind "colour" (want one of source_ip, network, user_agent, api_call, region)`},
		{"bad api_calls", "detectors:\n  anomaly:\n    first_seen: {api_calls: some}\n", `detectors.anomaly.first_seen.api_calls: must be sensitive or all, not "some"`},
		{"bad time zone", "detectors:\n  anomaly:\n    off_hours:\n      business_hours: {time_zone: Mars/Olympus}\n", `test.yaml:4: detectors.anomaly.off_hours.business_hours: unknown time_zone "Mars/Olympus"`},
		{"bad clock", "detectors:\n  anomaly:\n    off_hours:\n      business_hours: {start: 8am}\n", `detectors.anomaly.off_hours.business_hours: start: "8am" is not a HH:MM time`},
		{"bad day", "detectors:\n  anomaly:\n    off_hours:\n      accounts:\n        \"1\": {days: [funday]}\n", `detectors.anomaly.off_hours.accounts: account 1: unknown day "funday"`},
		{"bad schedule", "detectors:\n  anomaly:\n    silence: {check_schedule: often}\n", `detectors.anomaly.silence.check_schedule: invalid schedule "often"`},
		{"bad dimension", "detectors:\n  anomaly:\n    silence: {by: [colour]}\n", `detectors.anomaly.silence.by: item 1: unknown dimension "colour"`},
		{"bad network", "detectors:\n  anomaly:\n    location: {ignore_networks: [10.0.0.0]}\n", `detectors.anomaly.location.ignore_networks: item 1: "10.0.0.0" is not a CIDR range`},
		{"bad ratio", "detectors:\n  anomaly:\n    spike: {ratio: 0.5}\n", `detectors.anomaly.spike.ratio: must be at least 1`},
		{"negative", "detectors:\n  anomaly:\n    limits: {max_keys: -1}\n", `detectors.anomaly.limits.max_keys: must be at least 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeYAML(t, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestExampleConfig checks that the anomaly part of configs/example.yaml
// decodes and holds every option.
func TestExampleConfig(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "configs", "example.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Other detector kinds have their own keys under detectors: decode
	// only ours.
	var doc struct {
		Detectors struct {
			Anomaly yaml.Node `yaml:"anomaly"`
		} `yaml:"detectors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Detectors.Anomaly.Kind == 0 {
		t.Fatal("configs/example.yaml has no detectors.anomaly section")
	}
	sub, err := yaml.Marshal(map[string]any{"detectors": map[string]any{"anomaly": &doc.Detectors.Anomaly}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeYAML(t, string(sub))
	if err != nil {
		t.Fatal(err)
	}
	if c.Learning.MinAge.D() != 7*24*time.Hour {
		t.Fatalf("example min_age=%v, want the default 7d", c.Learning.MinAge.D())
	}
	for _, key := range []string{"min_age", "min_events", "max_keys", "max_terms", "stale_after", "recent_events",
		"city_database", "asn_database", "principal_terms", "account_terms", "api_calls", "business_hours",
		"time_zone", "min_active_days", "usual_hour_days", "min_active_hours", "min_count", "account_min_count",
		"ratio", "z_score", "new_country", "new_asn", "max_speed_kmh", "min_distance_km", "ignore_asns",
		"ignore_networks", "check_schedule", "by:", "min_gap", "factor", "min_history"} {
		if !strings.Contains(string(b), key) {
			t.Errorf("configs/example.yaml does not document %s", key)
		}
	}
}
