package workflows

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
)

const routingYAML = `
workflows:
  escalation:
    policies:
      - name: oncall
        levels:
          - after: 30m
            targets: [{notifier: slack, channel: CLEADS}]
      - name: slow
        levels:
          - after: 4h
            targets: [{notifier: slack, channel: CSLOW}]
    by_severity:
      medium: slow
  routes:
    - name: critical
      match: {min_severity: critical}
      targets:
        - {notifier: slack, channel: CINC, mentions: [S1]}
        - {notifier: discord, channel: "999"}
      escalation: oncall
      continue: true
    - name: prod
      match: {accounts: ["1111*"], rules: ["aws-*"]}
      targets: [{notifier: slack, channel: CPROD}]
    - name: persistence
      match: {tags: [persistence]}
      targets: [{notifier: slack, channel: CPERSIST}]
  default_route:
    targets: [{notifier: slack, channel: CALL}]
`

func TestRoute(t *testing.T) {
	c := configFromYAML(t, routingYAML)
	mk := func(rule, account string, sev detectors.Severity, tags ...string) detectors.Finding {
		return detectors.Finding{RuleID: rule, Account: account, Severity: sev, Tags: tags}
	}
	tests := []struct {
		name     string
		f        detectors.Finding
		routes   []string
		channels []string
		policy   string
	}{
		{"critical in prod: two routes, continue then stop", mk("aws-root", "111122223333", detectors.Critical, "persistence"),
			[]string{"critical", "prod"}, []string{"slack/CINC", "discord/999", "slack/CPROD"}, "oncall"},
		{"high in prod stops at prod; policy by severity", mk("aws-iam-user", "111100000000", detectors.High, "persistence"),
			[]string{"prod"}, []string{"slack/CPROD"}, "slow"},
		{"rule pattern must match too", mk("custom-x", "111122223333", detectors.High, "persistence"),
			[]string{"persistence"}, []string{"slack/CPERSIST"}, "slow"},
		{"critical elsewhere: continue finds nothing more", mk("aws-root", "999999999999", detectors.Critical),
			[]string{"critical"}, []string{"slack/CINC", "discord/999"}, "oncall"},
		{"nothing matches: default route, no policy below medium", mk("aws-x", "999999999999", detectors.Low),
			[]string{"default"}, []string{"slack/CALL"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Route(&tc.f)
			var chans []string
			for _, tg := range r.Targets {
				chans = append(chans, tg.Notifier+"/"+tg.Channel)
			}
			if !reflect.DeepEqual(r.Routes, tc.routes) || !reflect.DeepEqual(chans, tc.channels) || r.Policy != tc.policy {
				t.Fatalf("routes=%v targets=%v policy=%q, want %v %v %q", r.Routes, chans, r.Policy, tc.routes, tc.channels, tc.policy)
			}
		})
	}
}

// TestRoutedDelivery follows a routed alert through the outbox: one post
// per notifier and channel, and every message redrawn on a change.
func TestRoutedDelivery(t *testing.T) {
	s, _ := newStore(t)
	s.Config = configFromYAML(t, routingYAML)
	slack, discord, term := &funcNotifier{name: "slack"}, &funcNotifier{name: "discord"}, &funcNotifier{name: "terminal"}
	f := finding("aws-root", "fp1", "g1", t0, detectors.Critical)
	f.Account = "111122223333"
	id := ingest(t, s, f).New[0].ID
	dispatch(t, s, slack, discord, term)
	if got, want := slack.kinds(), []string{"new@CINC", "new@CPROD"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("slack got %v, want %v", got, want)
	}
	if got, want := discord.kinds(), []string{"new@999"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("discord got %v, want %v", got, want)
	}
	if len(term.got) != 0 {
		t.Fatalf("terminal got %v, want nothing: no route targets it", term.kinds())
	}
	if m := slack.got[0].Mentions; !reflect.DeepEqual(m, []string{"S1"}) {
		t.Fatalf("mentions=%v", m)
	}
	a, _ := s.Get(id)
	if len(a.Messages) != 3 {
		t.Fatalf("messages=%+v, want 3", a.Messages)
	}
	slack.reset()
	discord.reset()
	if _, err := s.Apply(Change{AlertID: id, Action: ActionAcknowledge, Actor: "slack:U1"}); err != nil {
		t.Fatal(err)
	}
	dispatch(t, s, slack, discord, term)
	if got, want := slack.kinds(), []string{"update@CINC", "update@CPROD"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("slack got %v, want %v", got, want)
	}
	if slack.got[0].Ref.MessageID == slack.got[1].Ref.MessageID || slack.got[0].Ref.MessageID == "" {
		t.Fatalf("updates carry refs %+v and %+v, want the two distinct messages", slack.got[0].Ref, slack.got[1].Ref)
	}
	if got := discord.kinds(); !reflect.DeepEqual(got, []string{"update@999"}) {
		t.Fatalf("discord got %v", got)
	}
	// Dispatching again delivers nothing twice.
	dispatch(t, s, slack, discord, term)
	if len(slack.got) != 2 {
		t.Fatalf("slack got %d notifications after a second dispatch, want 2", len(slack.got))
	}
}

// TestUnroutedGoesEverywhere keeps the behaviour without configuration:
// every notifier, default channel, and a terminal with no message refs
// still hears about updates.
func TestUnroutedGoesEverywhere(t *testing.T) {
	s, _ := newStore(t)
	term := &funcNotifier{name: "terminal", notify: func(Notification) (MessageRef, bool, error) { return MessageRef{}, false, nil }}
	slack := &funcNotifier{name: "slack"}
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
	dispatch(t, s, term, slack)
	if _, err := s.Apply(Change{AlertID: id, Action: ActionResolve, Actor: "cli:me"}); err != nil {
		t.Fatal(err)
	}
	dispatch(t, s, term, slack)
	if got, want := term.kinds(), []string{"new@", "update@"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("terminal got %v, want %v", got, want)
	}
	if got, want := slack.kinds(), []string{"new@", "update@DEFAULT"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("slack got %v, want %v", got, want)
	}
}

// TestSeverityRiseReroutes posts a grouped alert to the routes its new
// severity adds, without posting it twice where it already is.
func TestSeverityRiseReroutes(t *testing.T) {
	s, c := newStore(t)
	s.Config = configFromYAML(t, routingYAML)
	slack, discord := &funcNotifier{name: "slack"}, &funcNotifier{name: "discord"}
	id := ingest(t, s, finding("x", "fp1", "g", t0, detectors.Medium)).New[0].ID
	dispatch(t, s, slack, discord)
	c.now = c.now.Add(time.Minute)
	ingest(t, s, finding("x", "fp2", "g", t0.Add(time.Minute), detectors.Critical))
	dispatch(t, s, slack, discord)
	if got, want := slack.kinds(), []string{"new@CALL", "new@CINC", "repeat@CALL", "repeat@CINC"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("slack got %v, want %v", got, want)
	}
	if got, want := discord.kinds(), []string{"new@999", "repeat@999"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("discord got %v, want %v", got, want)
	}
	a, _ := s.Get(id)
	if a.EscalationPolicy != "slow" || a.Count != 2 {
		t.Fatalf("alert policy=%q count=%d; the policy set at creation stays", a.EscalationPolicy, a.Count)
	}
}

func TestGroupByConfiguredKeys(t *testing.T) {
	s, _ := newStore(t)
	s.Config = configFromYAML(t, `
workflows:
  group_window: 1h
  group_by: [rule_id, source_ip]
  group_by_rules:
    per-user: [principal]
`)
	mk := func(rule, fp, principal, ip string, at time.Time) detectors.Finding {
		f := finding(rule, fp, "detector-key-"+fp, at, detectors.Medium)
		f.Principal.ARN, f.Principal.Name, f.SourceIP = "arn:aws:iam::1:user/"+principal, principal, ip
		return f
	}
	res := ingest(t, s,
		mk("burst", "1", "alice", "203.0.113.9", t0),
		mk("burst", "2", "bob", "203.0.113.9", t0.Add(time.Minute)), // same rule and IP: grouped
		mk("burst", "3", "alice", "198.51.100.1", t0),               // another IP: new alert
		mk("per-user", "4", "alice", "203.0.113.9", t0),
		mk("per-user", "5", "alice", "198.51.100.1", t0),              // per-rule key: same principal, grouped
		mk("burst", "6", "carol", "203.0.113.9", t0.Add(2*time.Hour)), // outside the window: new alert
	)
	counts := map[string]int{}
	for _, a := range res.New {
		counts[a.Finding.RuleID+"/"+a.Finding.SourceIP] += a.Count
	}
	want := map[string]int{"burst/203.0.113.9": 3, "burst/198.51.100.1": 1, "per-user/203.0.113.9": 2}
	if len(res.New) != 4 || !reflect.DeepEqual(counts, want) {
		t.Fatalf("new=%d counts=%v, want 4 alerts %v", len(res.New), counts, want)
	}
	if k := res.New[0].Finding.GroupKey; strings.HasPrefix(k, "detector-key") {
		t.Fatalf("group key %q was not recomputed", k)
	}
}

// blindNotifier has no channels, like the terminal.
type blindNotifier struct{ funcNotifier }

func (*blindNotifier) RouteBlind() bool { return true }

// TestRouteBlindGetsEverything shows a channel-less notifier everything
// once, whatever the routes, except questions meant for one person.
func TestRouteBlindGetsEverything(t *testing.T) {
	s, _ := newStore(t)
	s.Config = configFromYAML(t, routingYAML+`
  ask_actor:
    rules: [aws-*]
    users: [{principal: alice, slack: UALICE}]
`)
	term := &blindNotifier{funcNotifier{name: "terminal", notify: func(Notification) (MessageRef, bool, error) { return MessageRef{}, false, nil }}}
	slack := &funcNotifier{name: "slack"}
	f := finding("aws-root", "fp1", "g1", t0, detectors.Critical)
	f.Account = "111122223333"
	id := ingest(t, s, f).New[0].ID
	if _, err := s.Apply(Change{AlertID: id, Action: ActionEscalate, Actor: "slack:U1"}); err != nil {
		t.Fatal(err)
	}
	dispatch(t, s, term, slack)
	if got, want := term.kinds(), []string{"new@", "update@", "escalate@"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("terminal got %v, want %v", got, want)
	}
	// The cards posted in this dispatch already show the escalation: no
	// redraw follows them.
	if got, want := slack.kinds(), []string{"new@CINC", "new@CPROD", "ask_actor@@UALICE", "escalate@CLEADS"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("slack got %v, want %v", got, want)
	}
}

const digestRoutingYAML = `
workflows:
  routes:
    - name: low-to-digest
      match: {max_severity: low}
      digest: true
  default_route:
    targets: [{notifier: slack, channel: CALL}]
`

// TestDigestRoute keeps low alerts for the digest without posting them,
// asks nobody, and posts an alert once a grouped finding raises it above
// the digest route.
func TestDigestRoute(t *testing.T) {
	s, c := newStore(t)
	s.Config = configFromYAML(t, digestRoutingYAML)
	slack, term := &funcNotifier{name: "slack"}, &funcNotifier{name: "terminal"}
	low := ingest(t, s, finding("aws-network-change", "fp1", "g1", t0, detectors.Low)).New[0]
	if !low.DigestOnly || len(low.Targets) != 0 || low.EscalationPolicy != "" || !reflect.DeepEqual(low.Routes, []string{"low-to-digest"}) {
		t.Fatalf("low alert %+v: want digest only, no targets, no policy, routed by low-to-digest", low)
	}
	high := ingest(t, s, finding("aws-security-group-open-to-world", "fp2", "g2", t0, detectors.High)).New[0]
	if high.DigestOnly {
		t.Fatal("high alert kept for the digest")
	}
	dispatch(t, s, slack, term)
	if got, want := slack.kinds(), []string{"new@CALL"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("slack got %v, want only the high alert %v", got, want)
	}
	if len(term.got) != 0 {
		t.Fatalf("terminal got %v, want nothing", term.kinds())
	}
	// Acknowledging the digest-only alert posts nothing either.
	if _, err := s.Apply(Change{AlertID: low.ID, Action: ActionAcknowledge, Actor: "cli:me"}); err != nil {
		t.Fatal(err)
	}
	dispatch(t, s, slack, term)
	if len(slack.got) != 1 || len(term.got) != 0 {
		t.Fatalf("after ack: slack %v terminal %v, want nothing new", slack.kinds(), term.kinds())
	}
	// A medium finding in the same group lifts the alert into chat.
	slack.reset()
	c.now = c.now.Add(time.Minute)
	ingest(t, s, finding("aws-network-change", "fp3", "g1", t0.Add(time.Minute), detectors.Medium))
	dispatch(t, s, slack, term)
	if got := slack.kinds(); len(got) == 0 || got[0] != "new@CALL" {
		t.Fatalf("slack got %v after the rise, want the alert posted to CALL", got)
	}
	a, _ := s.Get(low.ID)
	if a.DigestOnly {
		t.Fatal("alert still digest-only after rising to medium")
	}
}

func TestDigestRouteConfigErrors(t *testing.T) {
	for text, want := range map[string]string{
		"workflows:\n  routes:\n    - match: {max_severity: low}\n      digest: true\n      targets: [{notifier: slack}]\n": "a digest route posts nothing",
		"workflows:\n  routes:\n    - match: {max_severity: loww}\n      digest: true\n":                                    "unknown severity",
	} {
		cfg, err := configs.Parse([]byte(text), "test.yaml", func(string) (string, bool) { return "", false })
		if err == nil {
			_, err = LoadConfig(cfg.Workflows, testNotifiers)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err=%v, want %q", text, err, want)
		}
	}
}
