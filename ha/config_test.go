package ha

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
)

func decode(t *testing.T, text string) (*Config, error) {
	t.Helper()
	cfg, err := configs.Parse([]byte(text), "trailhound.yaml", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	return DecodeConfig(cfg.State, cfg.HA)
}

// TestConfigErrors names the key and what was wrong for each bad setting.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"bad snapshot url", "state: {snapshot: {url: \"https://bucket/x\"}}", `state.snapshot.url: "https://bucket/x": want s3://bucket/prefix`},
		{"keep", "state: {snapshot: {url: s3://b/p, keep: -1}}", "state.snapshot.keep: must be at least 1, not -1"},
		{"every", "state: {snapshot: {url: s3://b/p, every: 10ms}}", "state.snapshot.every: must be at least 1s"},
		{"restore", "state: {snapshot: {url: s3://b/p}, restore: always}", `state.restore: must be auto or off, not "always"`},
		{"restore without url", "state: {restore: auto}", "state.restore: auto needs snapshot.url"},
		{"endpoint", "state: {snapshot: {url: s3://b/p, endpoint_url: \"localhost:5000\"}}", `state.snapshot.endpoint_url: "localhost:5000" is not an http(s) URL`},
		{"lease scheme", "state: {snapshot: {url: s3://b/p}}\nha: {lease: \"redis://x/y\"}", `ha.lease: "redis://x/y": want dynamodb://TABLE/NAME or s3://bucket/key`},
		{"lease without name", "state: {snapshot: {url: s3://b/p}}\nha: {lease: \"dynamodb://table\"}", "want dynamodb://TABLE/NAME"},
		{"ttl", "state: {snapshot: {url: s3://b/p}}\nha: {lease: \"dynamodb://t/n\", renew: 10s, ttl: 15s}", "ha.ttl: must be at least twice renew (10s), not 15s"},
		{"lease without snapshots", "ha: {lease: \"dynamodb://t/n\"}", "ha.lease: a standby restores the active replica's state from snapshots: set state.snapshot.url too"},
		{"unknown key", "state: {snapshot: {url: s3://b/p, every_minute: true}}", "every_minute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(t, "data_dir: /tmp/x\n"+tc.yaml+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
		})
	}
}

// TestConfigDefaults fills the documented defaults.
func TestConfigDefaults(t *testing.T) {
	c, err := decode(t, "data_dir: /tmp/x\nstate: {snapshot: {url: \"s3://my-bucket/prod/state/\"}}\nha: {lease: \"s3://my-bucket/prod/lease.json\"}\n")
	if err != nil {
		t.Fatal(err)
	}
	s := c.State.Snapshot
	if s.Bucket != "my-bucket" || s.Prefix != "prod/state" || s.Every.D() != 5*time.Minute || s.Keep != 48 || c.State.Restore != "off" {
		t.Fatalf("snapshot %+v restore %q", s, c.State.Restore)
	}
	h := c.HA
	if h.Kind != "s3" || h.Where != "my-bucket" || h.Name != "prod/lease.json" || h.Renew.D() != 10*time.Second || h.TTL.D() != 30*time.Second {
		t.Fatalf("lease %+v", h)
	}
}
