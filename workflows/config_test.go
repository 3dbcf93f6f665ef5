package workflows

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
)

var testNotifiers = []string{"discord", "slack", "terminal"}

func loadConfigFile(t *testing.T, path string) (*Config, error) {
	t.Helper()
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return LoadConfig(cfg.Workflows, testNotifiers)
}

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"unknown-key.yaml", `unknown-key.yaml:2: workflows.group_windw: unknown key (did you mean "group_window"?)`},
		{"bad-group-field.yaml", `bad-group-field.yaml:4: workflows.group_by[1]: unknown group-by field "colour" (want one of rule_id, account,`},
		{"zero-window.yaml", `zero-window.yaml:2: workflows.group_window: must be longer than 0s`},
		{"route-no-targets.yaml", `route-no-targets.yaml:3: workflows.routes[0].targets: a route needs at least one target`},
		{"bad-severity.yaml", `bad-severity.yaml:5: workflows.routes[0].match.min_severity: unknown severity "urgent" (want info, low, medium, high or critical)`},
		{"unknown-notifier.yaml", `unknown-notifier.yaml:4: workflows.routes[0].targets: targets[0]: unknown notifier "teams" (want one of discord, slack, terminal)`},
		{"channel-without-notifier.yaml", `channel-without-notifier.yaml:3: workflows.default_route.targets: targets[0]: a channel or user id belongs to one platform: name its notifier`},
		{"duplicate-route.yaml", `duplicate-route.yaml:5: workflows.routes[1].name: duplicate route name "a"`},
		{"unknown-policy.yaml", `unknown-policy.yaml:5: workflows.routes[0].escalation: unknown escalation policy "pager" (define it under escalation.policies)`},
		{"level-no-after.yaml", `level-no-after.yaml:6: workflows.escalation.policies[0].levels[0].after: a level needs a delay, e.g. after: 30m`},
		{"bad-by-severity.yaml", `bad-by-severity.yaml:8: workflows.escalation.by_severity: unknown severity "severe"`},
		{"bad-duration.yaml", `bad-duration.yaml:6: workflows.escalation.policies[0].levels[0].after: invalid duration "half an hour"`},
		{"ask-no-rules.yaml", `ask-no-rules.yaml:3: workflows.ask_actor.rules: list the rules whose alerts ask the actor`},
		{"ask-user-no-chat.yaml", `ask-user-no-chat.yaml:5: workflows.ask_actor.users[0].slack: a user needs a slack or discord user id`},
		{"bad-due.yaml", `bad-due.yaml:3: workflows.tasks.due: unknown severity "urgent"`},
		{"webhook-no-secret.yaml", `webhook-no-secret.yaml:4: workflows.tasks.webhook.secret: one of secret and secret_file is required`},
		{"webhook-bad-url.yaml", `webhook-bad-url.yaml:4: workflows.tasks.webhook.url: must be an http:// or https:// URL`},
		{"digest-bad-schedule.yaml", `digest-bad-schedule.yaml:4: workflows.digests[0].schedule: invalid schedule "every monday"`},
		{"digest-no-since.yaml", `digest-no-since.yaml:3: workflows.digests[0].since: a digest needs a period, e.g. since: 7d`},
		{"verification-no-same.yaml", `verification-no-same.yaml:4: workflows.verification.rules[0].same: name at least one field`},
		{"bad-tick.yaml", `bad-tick.yaml:2: workflows.tick_schedule: invalid schedule "@sometimes"`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			dir := filepath.Join("testdata", "config")
			_, err := loadConfigFile(t, filepath.Join(dir, tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.TrimPrefix(err.Error(), dir+string(filepath.Separator))
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("error=%q, want prefix %q", got, tc.want)
			}
		})
	}
}

// TestWebhookSecretNotInErrors checks a bad webhook URL does not leak into
// the error.
func TestWebhookSecretNotInErrors(t *testing.T) {
	_, err := loadConfigFile(t, filepath.Join("testdata", "config", "webhook-bad-url.yaml"))
	if err == nil || strings.Contains(err.Error(), "tickets.example.com") {
		t.Fatalf("error=%v, want one without the URL", err)
	}
}

// TestExampleConfig decodes the documented example and checks every part.
func TestExampleConfig(t *testing.T) {
	c, err := loadConfigFile(t, filepath.Join("..", "configs", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.GroupWindow != 24*time.Hour || !reflect.DeepEqual(c.GroupBy, []string{"rule_id", "account", "principal"}) {
		t.Fatalf("grouping: window=%v by=%v", c.GroupWindow, c.GroupBy)
	}
	if got := c.GroupByRules["aws-console-login-failures"]; !reflect.DeepEqual(got, []string{"rule_id", "source_ip"}) {
		t.Fatalf("group_by_rules=%v", c.GroupByRules)
	}
	if len(c.Routes) != 3 || c.Routes[0].Name != "low-to-digest" || !c.Routes[0].Digest || c.Routes[0].Match.MaxSeverity == nil || c.Routes[0].Match.MaxSeverity.Severity != detectors.Low {
		t.Fatalf("routes=%+v, want low-to-digest first", c.Routes)
	}
	if r := c.Routes[1]; r.Name != "critical-to-incident-room" || !r.Continue || len(r.Targets) != 2 {
		t.Fatalf("routes=%+v", c.Routes)
	}
	if c.Routes[1].Match.MinSeverity.Severity != detectors.Critical || c.Routes[1].Targets[0].Mentions[0] != "S0SECONCALL" {
		t.Fatalf("route 1=%+v", c.Routes[1])
	}
	low := detectors.Finding{RuleID: "aws-iam-policy-change", Severity: detectors.Low}
	if r := c.Route(&low); !r.DigestOnly {
		t.Fatalf("a low change monitor is routed %+v, want the digest only", r)
	}
	if c.DefaultRoute.Targets[0].Channel != "C0SECALERTS" {
		t.Fatalf("default route=%+v", c.DefaultRoute)
	}
	p := c.Policies["security-oncall"]
	if p == nil || len(p.Levels) != 2 || p.Levels[0].After.D() != 30*time.Minute || p.Levels[1].Targets[0].DirectTo != "U0CISO" {
		t.Fatalf("policy=%+v", p)
	}
	if c.PolicyBySeverity[detectors.High] != "security-oncall" {
		t.Fatalf("by severity=%v", c.PolicyBySeverity)
	}
	if c.AskActor.Timeout != 30*time.Minute || len(c.AskActor.Users) != 2 || c.AskActor.EmailLookup[0] != "slack" {
		t.Fatalf("ask actor=%+v", c.AskActor)
	}
	if c.Tasks.Due[detectors.Critical] != 24*time.Hour || c.Tasks.MaxOverdue != 3 || !c.Tasks.Webhook.URL.IsZero() {
		t.Fatalf("tasks=%+v", c.Tasks)
	}
	if len(c.Digests) != 2 || c.Digests[1].Since != 7*24*time.Hour || c.Digests[0].Chart || !c.Digests[1].Chart {
		t.Fatalf("digests=%+v", c.Digests)
	}
	// Mondays 09:00 UTC.
	if next := c.Digests[1].Schedule.Next(t0); !next.Equal(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("weekly digest next=%v", next)
	}
	if n := len(c.Verifications); n != len(BuiltinVerifications())+1 || c.Verifications[n-1].Same[1].Event != "requestParameters.statementId" {
		t.Fatalf("verifications=%d, last=%+v", n, c.Verifications[n-1])
	}
}

func TestDefaultConfigWhenAbsent(t *testing.T) {
	c, err := LoadConfig(configs.Section{}, testNotifiers)
	if err != nil {
		t.Fatal(err)
	}
	f := finding("r", "fp", "g", t0, detectors.Critical)
	r := c.Route(&f)
	if !reflect.DeepEqual(r.Targets, []Target{{}}) || r.Policy != "" || r.Routes[0] != "default" {
		t.Fatalf("route=%+v, want every notifier's default channel, no policy", r)
	}
	if c.TickSchedule != "@every 1m" || c.GroupWindow != DefaultGroupWindow {
		t.Fatalf("defaults=%+v", c)
	}
}

func TestWebhookSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	writeFile(t, secret, "  from-a-file\n")
	cfgPath := filepath.Join(dir, "c.yaml")
	writeFile(t, cfgPath, "workflows:\n  tasks:\n    webhook:\n      url: https://tickets.example.com/h\n      secret_file: "+secret+"\n      timeout: 3s\n")
	c, err := loadConfigFile(t, cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Tasks.Webhook
	if w.Secret.Reveal() != "from-a-file" || w.URL.Reveal() != "https://tickets.example.com/h" || w.Timeout != 3*time.Second {
		t.Fatalf("webhook=%v %v %v", w.URL, w.Secret, w.Timeout)
	}
}
