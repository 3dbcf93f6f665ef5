package configs

import (
	"strings"
	"testing"
	"time"
)

func TestActivityDefaults(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	cfg, err := Parse([]byte("log: {level: info}\n"), "t.yaml", none)
	if err != nil {
		t.Fatal(err)
	}
	want := ActivityConfig{Window: Duration(time.Hour), MaxRows: 50, CacheTTL: Duration(5 * time.Minute), MaxConcurrent: 4, Timeout: Duration(20 * time.Second)}
	if cfg.Activity != want {
		t.Fatalf("defaults=%+v, want %+v", cfg.Activity, want)
	}
	cfg, err = Parse([]byte("activity: {window: 30m, max_rows: 20, cache_ttl: 1m, max_concurrent: 2, timeout: 1m}\n"), "t.yaml", none)
	want = ActivityConfig{Window: Duration(30 * time.Minute), MaxRows: 20, CacheTTL: Duration(time.Minute), MaxConcurrent: 2, Timeout: Duration(time.Minute)}
	if err != nil || cfg.Activity != want {
		t.Fatalf("activity=%+v err=%v, want %+v", cfg.Activity, err, want)
	}
}

func TestActivityErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"activity:\n  window: 30s\n", "t.yaml:2: activity.window: must be between 1m0s and 24h0m0s, not 30s"},
		{"activity:\n  cache_ttl: 2h\n", "t.yaml:2: activity.cache_ttl: must be between 1s and 1h0m0s, not 2h0m0s"},
		{"activity:\n  timeout: 11m\n", "t.yaml:2: activity.timeout: must be between 1s and 10m0s, not 11m0s"},
		{"activity:\n  max_rows: 51\n", "t.yaml:2: activity.max_rows: must be between 1 and 50, not 51"},
		{"activity:\n  max_concurrent: -1\n", "t.yaml:2: activity.max_concurrent: must be between 1 and 64, not -1"},
		{"activity:\n  rows: 5\n", "t.yaml:2"},
	} {
		_, err := Parse([]byte(tc.yaml), "t.yaml", func(string) (string, bool) { return "", false })
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: err=%v, want %q", tc.yaml, err, tc.want)
		}
	}
}
