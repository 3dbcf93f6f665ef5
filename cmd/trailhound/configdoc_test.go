package main

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/trailhound/trailhound/configs"
)

// TestExampleDocumentsEveryKey: configs/example.yaml names every key that
// the config structs accept. The keys are those each section's decoder
// accepts while the example (and, for the sections it leaves commented
// out, a config that sets them) is validated; strict loading already
// checks the other way, that every key the example sets exists.
func TestExampleDocumentsEveryKey(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]bool{}
	stop := configs.TraceKeys(func(k string) {
		mu.Lock()
		keys[k] = true
		mu.Unlock()
	})
	defer stop()
	example := repoFile(t, "configs/example.yaml")
	if code, out, errOut := runCLI(t, "validate", example); code != exitOK {
		t.Fatalf("validate example: exit=%d\n%s\n%s", code, out, errOut)
	}
	// The chat sections and the webhook are commented out in the example,
	// so that it loads without credentials: decode them from here.
	dir := t.TempDir()
	extra := filepath.Join(dir, "chat.yaml")
	body := `http: {listen: "127.0.0.1:0"}
notify:
  slack: {bot_token: ` + slackTestToken + `, channel: C0SEC, app_token: xapp-1-A0-1-x}
  discord: {bot_token: ` + discordTestToken + `, channel_id: "1100000000000000001"}
workflows:
  tasks:
    webhook: {url: "https://tickets.example.com/hook", secret: s3cret}
state:
  snapshot: {url: "s3://state/prod", every: 5m, keep: 48, region: eu-west-1, endpoint_url: "http://127.0.0.1:5000"}
  restore: auto
ha: {lease: "dynamodb://leases/prod", renew: 10s, ttl: 30s, holder: a, region: eu-west-1, endpoint_url: "http://127.0.0.1:5000"}
`
	if err := os.WriteFile(extra, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "validate", extra); code != exitOK {
		t.Fatalf("validate chat config: exit=%d\n%s\n%s", code, out, errOut)
	}
	stop()
	// The root struct is decoded by configs.Parse; its keys count too.
	for _, k := range []string{"data_dir", "log", "log.level", "log.format", "sources", "detectors", "notify", "notify.terminal", "notify.slack", "notify.discord", "workflows", "dispatch_schedule", "http", "http.listen"} {
		keys[k] = true
	}
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var missing []string
	for k := range keys {
		segs := strings.Split(strings.NewReplacer("[]", "", ".*", "").Replace(k), ".")
		leaf := segs[len(segs)-1]
		if !regexp.MustCompile(`(?m)(^|[\s{,#-])` + regexp.QuoteMeta(leaf) + `:`).MatchString(text) {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("configs/example.yaml does not document %d keys:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if len(keys) < 100 {
		t.Fatalf("only %d keys traced: the trace is broken", len(keys))
	}
}
