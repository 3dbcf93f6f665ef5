package workflows

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
)

// Config is the decoded `workflows:` section of the config file: grouping,
// routing, escalation, asking the actor, remediation tasks, digests and
// verification from the logs. The zero Config is not valid; use
// DefaultConfig or LoadConfig.
type Config struct {
	// GroupWindow is how long after its last finding an open alert still
	// absorbs similar findings.
	GroupWindow time.Duration
	// GroupBy lists the finding fields whose values make the group key;
	// empty keeps each detector's own key.
	GroupBy []string
	// GroupByRules overrides GroupBy for single rule ids.
	GroupByRules map[string][]string
	// KeepAWSApart turns off folding by principal: by default a new AWS
	// security finding (GuardDuty, Security Hub...) joins an open alert
	// of Trailhound's own rules about the same principal (ARN or access
	// key) in the same account, last seen within GroupWindow, instead of
	// opening an alert of its own. Set by fold_aws_findings_by_principal:
	// false.
	KeepAWSApart bool
	// Routes are tried in order; see Route.
	Routes []Route
	// DefaultRoute is used when no route matches. With no targets, alerts go
	// to every notifier's default channel.
	DefaultRoute Route
	// Policies are the escalation policies by name.
	Policies map[string]*Policy
	// PolicyBySeverity picks a policy for alerts whose route names none:
	// the entry with the highest severity not above the alert's.
	PolicyBySeverity map[detectors.Severity]string
	// AskActor configures "was this you?" questions.
	AskActor AskActor
	// Tasks configures remediation task due dates, reminders and the
	// ticketing webhook.
	Tasks TaskPolicy
	// Digests are the scheduled review digests.
	Digests []DigestSpec
	// Verifications say which later events prove a task done.
	Verifications []Verification
	// TickSchedule is when `trailhound run` checks escalation timers,
	// reminders, digests and the webhook queue.
	TickSchedule string
	// MaxCardCopies bounds the cards one alert has on one chat platform
	// (the first post and escalation copies); an escalation beyond it is a
	// reply in the alert's thread instead of another card.
	MaxCardCopies int
}

// DefaultMaxCardCopies is the default of MaxCardCopies.
const DefaultMaxCardCopies = 3

// Target is one place a notification goes.
type Target struct {
	// Notifier is the notifier name (slack, discord, terminal); empty means
	// every notifier.
	Notifier string `yaml:"notifier" json:"notifier,omitempty"`
	// Channel is the platform channel id; empty means the notifier's
	// default channel.
	Channel string `yaml:"channel" json:"channel,omitempty"`
	// Mentions are platform user or group ids to mention.
	Mentions []string `yaml:"mentions" json:"mentions,omitempty"`
	// DirectTo sends a direct message to this platform user id instead;
	// "email:addr" asks the notifier to look the user up by email.
	DirectTo string `yaml:"direct_to" json:"direct_to,omitempty"`
}

// applies reports whether the target is meant for a notifier.
func (t Target) applies(notifier string) bool { return t.Notifier == "" || t.Notifier == notifier }

// dest names where the target posts on its notifier: the channel, "@user"
// for a direct message, or "" for the default channel.
func (t Target) dest() string {
	if t.DirectTo != "" {
		return "@" + t.DirectTo
	}
	return t.Channel
}

func (t Target) equal(u Target) bool {
	return t.Notifier == u.Notifier && t.dest() == u.dest() && strings.Join(t.Mentions, ",") == strings.Join(u.Mentions, ",")
}

// Route sends matching alerts to its targets. Routes are tried in order;
// every matching route adds its targets, and matching stops at the first
// matching route without Continue.
type Route struct {
	Name  string     `yaml:"name"`
	Match RouteMatch `yaml:"match"`
	// Targets are where matching alerts are posted.
	Targets []Target `yaml:"targets"`
	// Digest keeps matching alerts for the review digest and chat queries
	// without posting them; such a route has no targets.
	Digest bool `yaml:"digest"`
	// Escalation names the escalation policy of matching alerts.
	Escalation string `yaml:"escalation"`
	// Continue goes on to try later routes after this one matched.
	Continue bool `yaml:"continue"`
}

// RouteMatch selects findings. Every criterion given must hold; within a
// list, any element may match.
type RouteMatch struct {
	MinSeverity SeverityName `yaml:"min_severity"`
	// MaxSeverity, when set, excludes findings above it.
	MaxSeverity *SeverityName `yaml:"max_severity"`
	// Rules are rule ids or shell patterns ("aws-iam-*").
	Rules []string `yaml:"rules"`
	// Accounts are AWS account ids or patterns.
	Accounts []string `yaml:"accounts"`
	// Tags are finding tags; any one suffices.
	Tags []string `yaml:"tags"`
}

// Matches reports whether a finding falls under the match.
func (m RouteMatch) Matches(f *detectors.Finding) bool {
	if f.Severity < m.MinSeverity.Severity {
		return false
	}
	if m.MaxSeverity != nil && f.Severity > m.MaxSeverity.Severity {
		return false
	}
	if len(m.Rules) > 0 && !matchAny(m.Rules, f.RuleID) {
		return false
	}
	if len(m.Accounts) > 0 && !matchAny(m.Accounts, f.Account) {
		return false
	}
	if len(m.Tags) > 0 {
		ok := false
		for _, t := range f.Tags {
			ok = ok || matchAny(m.Tags, t)
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// SeverityName is a severity written by name in the config ("high").
type SeverityName struct{ detectors.Severity }

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *SeverityName) UnmarshalYAML(n *yaml.Node) error {
	v, err := detectors.ParseSeverity(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: unknown severity %q (want info, low, medium, high or critical)", n.Line, n.Value)
	}
	s.Severity = v
	return nil
}

// Policy is an escalation policy: while an alert stays unacknowledged,
// each level fires Levels[i].After after the previous one (the first after
// the alert was raised).
type Policy struct {
	Name   string
	Levels []Level
	// RepeatLast fires the last level again every Levels[last].After until
	// the alert is acknowledged.
	RepeatLast bool
}

// Level is one step of an escalation policy.
type Level struct {
	// After is how long the alert stays unacknowledged before this level
	// fires, counted from the previous level (or the alert's creation).
	After   configs.Duration `yaml:"after"`
	Targets []Target         `yaml:"targets"`
}

// AskActor configures "was this you?" direct messages to the person who
// performed the action behind an alert.
type AskActor struct {
	// Rules are rule ids or patterns whose new alerts ask the actor.
	Rules []string
	// Timeout is how long to wait for an answer before escalating.
	Timeout time.Duration
	// Users maps principals to chat users.
	Users []ActorUser
	// EmailLookup lists notifiers asked to find the user by email when the
	// principal name is an email address and no mapping matches.
	EmailLookup []string
}

// ActorUser maps an AWS principal to chat user ids.
type ActorUser struct {
	// Principal is an ARN, a principal name, or a pattern of either.
	Principal string `yaml:"principal"`
	// Email is the person's email, matched against SSO session names.
	Email   string `yaml:"email"`
	Slack   string `yaml:"slack"`
	Discord string `yaml:"discord"`
}

// TaskPolicy configures remediation tasks.
type TaskPolicy struct {
	// Due is the default time to fix by severity.
	Due map[detectors.Severity]time.Duration
	// RemindBefore lists how long before the due date reminders go out.
	RemindBefore []time.Duration
	// RemindAfter is how long after the due date the first overdue
	// reminder goes out; RemindEvery repeats it, at most MaxOverdue times
	// in all.
	RemindAfter time.Duration
	RemindEvery time.Duration
	MaxOverdue  int
	// Webhook, when its URL is set, receives every task change.
	Webhook Webhook
}

// Webhook is an outbound HTTP endpoint for a ticketing system.
type Webhook struct {
	// URL is a secret because webhook URLs often embed tokens.
	URL configs.Secret
	// Secret signs each body with HMAC-SHA256.
	Secret  configs.Secret
	Timeout time.Duration
}

// DigestSpec is one scheduled digest.
type DigestSpec struct {
	Name     string
	Schedule cron.Schedule
	// Spec is the schedule as written.
	Spec string
	// Since is the period each digest covers, ending at its scheduled time.
	Since   time.Duration
	Targets []Target
	// Chart attaches the findings-per-day chart.
	Chart bool
}

// Verification says which later event proves a remediation task done.
type Verification struct {
	Name string `yaml:"name"`
	// Rules are rule ids or patterns this applies to; FindingAction, when
	// set, further requires the finding's action (CloudTrail eventName).
	Rules         []string `yaml:"rules"`
	FindingAction string   `yaml:"finding_action"`
	// FixedBy are the actions (eventNames) that fix it.
	FixedBy []string `yaml:"fixed_by"`
	// Same pairs a path in the finding's event with a path in the fixing
	// event whose values must be equal.
	Same []SameField `yaml:"same"`
	// Where are fixed values the fixing event must have.
	Where map[string]string `yaml:"where"`
}

// SameField pairs a finding path with a fixing-event path.
type SameField struct {
	Finding string `yaml:"finding"`
	// Event defaults to Finding.
	Event string `yaml:"event"`
}

// applies reports whether the verification covers an alert's finding.
func (v *Verification) applies(f *detectors.Finding) bool {
	if len(v.Rules) > 0 && !matchAny(v.Rules, f.RuleID) {
		return false
	}
	return v.FindingAction == "" || v.FindingAction == f.Action
}

// GroupFields are the finding fields group_by accepts.
var GroupFields = []string{"rule_id", "account", "region", "principal", "principal_name", "principal_type", "source_ip", "service", "action", "user_agent", "source", "error_code"}

func groupValue(f *detectors.Finding, field string) string {
	switch field {
	case "rule_id":
		return f.RuleID
	case "account":
		return f.Account
	case "region":
		return f.Region
	case "principal":
		if f.Principal.ARN != "" {
			return f.Principal.ARN
		}
		return f.Principal.Name
	case "principal_name":
		return f.Principal.Name
	case "principal_type":
		return f.Principal.Type
	case "source_ip":
		return f.SourceIP
	case "service":
		return f.Service
	case "action":
		return f.Action
	case "user_agent":
		return f.UserAgent
	case "source":
		return f.Source
	case "error_code":
		return f.ErrorCode
	}
	return ""
}

// groupKey recomputes a finding's group key from the configured fields, or
// returns "" to keep the detector's key.
func (c *Config) groupKey(f *detectors.Finding) string {
	fields := c.GroupBy
	if r, ok := c.GroupByRules[f.RuleID]; ok {
		fields = r
	}
	if len(fields) == 0 {
		return ""
	}
	parts := []string{"group"}
	for _, fl := range fields {
		parts = append(parts, fl+"="+groupValue(f, fl))
	}
	// The rule always takes part, so two rules never share an alert.
	parts = append(parts, "rule="+f.RuleID)
	return detectors.Fingerprint(parts...)
}

// RouteResult is where an alert goes.
type RouteResult struct {
	// Routes names the matching routes ("default" for the default route).
	Routes  []string
	Targets []Target
	// Policy is the escalation policy, "" for none.
	Policy string
	// DigestOnly is set when every matching route is a digest route: the
	// alert is kept for the digest and queries, not posted.
	DigestOnly bool
}

// Route resolves the routes of a finding.
func (c *Config) Route(f *detectors.Finding) RouteResult {
	var r RouteResult
	digestOnly := true
	for _, rt := range c.Routes {
		if !rt.Match.Matches(f) {
			continue
		}
		r.Routes = append(r.Routes, rt.Name)
		digestOnly = digestOnly && rt.Digest
		r.Targets = addTargets(r.Targets, rt.Targets)
		if r.Policy == "" {
			r.Policy = rt.Escalation
		}
		if !rt.Continue {
			break
		}
	}
	if len(r.Routes) == 0 {
		r.Routes = []string{"default"}
		r.Targets = addTargets(nil, c.DefaultRoute.Targets)
		r.Policy = c.DefaultRoute.Escalation
	} else if digestOnly {
		r.DigestOnly = true
		r.Targets, r.Policy = nil, ""
		return r
	}
	if len(r.Targets) == 0 {
		r.Targets = []Target{{}}
	}
	if r.Policy == "" {
		r.Policy = c.severityPolicy(f.Severity)
	}
	return r
}

func (c *Config) severityPolicy(s detectors.Severity) string {
	best, name := detectors.Severity(-1), ""
	for sev, p := range c.PolicyBySeverity {
		if sev <= s && sev > best {
			best, name = sev, p
		}
	}
	return name
}

func addTargets(have, more []Target) []Target {
	for _, t := range more {
		dup := false
		for _, h := range have {
			dup = dup || h.equal(t)
		}
		if !dup {
			have = append(have, t)
		}
	}
	return have
}

// DefaultConfig is the configuration used when the `workflows:` section is
// absent: every alert to every notifier's default channel, no escalation,
// built-in due dates, reminders and verifications.
func DefaultConfig() *Config {
	return &Config{
		GroupWindow: DefaultGroupWindow,
		Policies:    map[string]*Policy{},
		AskActor:    AskActor{Timeout: 30 * time.Minute},
		Tasks: TaskPolicy{
			Due: map[detectors.Severity]time.Duration{
				detectors.Critical: 24 * time.Hour,
				detectors.High:     3 * 24 * time.Hour,
				detectors.Medium:   7 * 24 * time.Hour,
				detectors.Low:      14 * 24 * time.Hour,
				detectors.Info:     30 * 24 * time.Hour,
			},
			RemindBefore: []time.Duration{24 * time.Hour},
			RemindEvery:  24 * time.Hour,
			MaxOverdue:   3,
			Webhook:      Webhook{Timeout: 10 * time.Second},
		},
		Verifications: BuiltinVerifications(),
		TickSchedule:  "@every 1m",
		MaxCardCopies: DefaultMaxCardCopies,
	}
}

// BuiltinVerifications are the fixing actions Trailhound knows without
// configuration. They match on the finding's action (the CloudTrail
// eventName that raised it), so they apply whatever the rule's id.
func BuiltinVerifications() []Verification {
	return []Verification{
		{Name: "security-group-ingress-revoked", FindingAction: "AuthorizeSecurityGroupIngress",
			FixedBy: []string{"RevokeSecurityGroupIngress", "DeleteSecurityGroup"},
			Same:    []SameField{{Finding: "requestParameters.groupId", Event: "requestParameters.groupId"}}},
		{Name: "access-key-deleted", FindingAction: "CreateAccessKey",
			FixedBy: []string{"DeleteAccessKey"},
			Same:    []SameField{{Finding: "responseElements.accessKey.accessKeyId", Event: "requestParameters.accessKeyId"}}},
		{Name: "access-key-deactivated", FindingAction: "CreateAccessKey",
			FixedBy: []string{"UpdateAccessKey"},
			Same:    []SameField{{Finding: "responseElements.accessKey.accessKeyId", Event: "requestParameters.accessKeyId"}},
			Where:   map[string]string{"requestParameters.status": "Inactive"}},
		{Name: "login-profile-deleted", FindingAction: "CreateLoginProfile",
			FixedBy: []string{"DeleteLoginProfile"},
			Same:    []SameField{{Finding: "requestParameters.userName", Event: "requestParameters.userName"}}},
		{Name: "admin-policy-detached", FindingAction: "AttachUserPolicy",
			FixedBy: []string{"DetachUserPolicy"},
			Same: []SameField{{Finding: "requestParameters.userName", Event: "requestParameters.userName"},
				{Finding: "requestParameters.policyArn", Event: "requestParameters.policyArn"}}},
		{Name: "role-policy-detached", FindingAction: "AttachRolePolicy",
			FixedBy: []string{"DetachRolePolicy"},
			Same: []SameField{{Finding: "requestParameters.roleName", Event: "requestParameters.roleName"},
				{Finding: "requestParameters.policyArn", Event: "requestParameters.policyArn"}}},
		{Name: "user-deleted", FindingAction: "CreateUser",
			FixedBy: []string{"DeleteUser"},
			Same:    []SameField{{Finding: "requestParameters.userName", Event: "requestParameters.userName"}}},
		{Name: "trail-logging-restarted", FindingAction: "StopLogging",
			FixedBy: []string{"StartLogging"},
			Same:    []SameField{{Finding: "requestParameters.name", Event: "requestParameters.name"}}},
		{Name: "mfa-enabled", FindingAction: "ConsoleLogin",
			FixedBy: []string{"EnableMFADevice"},
			Same:    []SameField{{Finding: "principal.name", Event: "requestParameters.userName"}}},
		{Name: "mfa-re-enabled", FindingAction: "DeactivateMFADevice",
			FixedBy: []string{"EnableMFADevice"},
			Same:    []SameField{{Finding: "requestParameters.userName", Event: "requestParameters.userName"}}},
		{Name: "bucket-policy-deleted", FindingAction: "PutBucketPolicy",
			FixedBy: []string{"DeleteBucketPolicy", "PutBucketPublicAccessBlock"},
			Same:    []SameField{{Finding: "requestParameters.bucketName", Event: "requestParameters.bucketName"}}},
		{Name: "bucket-acl-blocked", FindingAction: "PutBucketAcl",
			FixedBy: []string{"PutBucketPublicAccessBlock"},
			Same:    []SameField{{Finding: "requestParameters.bucketName", Event: "requestParameters.bucketName"}}},
	}
}

// The YAML shapes. List elements decode as sections so each error names
// its own line.
type yamlConfig struct {
	GroupWindow  *configs.Duration       `yaml:"group_window"`
	GroupBy      []GroupField            `yaml:"group_by"`
	GroupByRules map[string][]GroupField `yaml:"group_by_rules"`
	Routes       []configs.Section       `yaml:"routes"`
	DefaultRoute configs.Section         `yaml:"default_route"`
	Escalation   configs.Section         `yaml:"escalation"`
	AskActor     configs.Section         `yaml:"ask_actor"`
	Tasks        configs.Section         `yaml:"tasks"`
	Digests      []configs.Section       `yaml:"digests"`
	Verification configs.Section         `yaml:"verification"`
	TickSchedule string                  `yaml:"tick_schedule"`

	// MaxCardCopies bounds the cards of one alert per chat platform.
	MaxCardCopies *int `yaml:"max_card_copies"`

	// FoldAWSByPrincipal: false sets Config.KeepAWSApart.
	FoldAWSByPrincipal *bool `yaml:"fold_aws_findings_by_principal"`
}

// GroupField is a finding field name accepted by group_by.
type GroupField string

// UnmarshalYAML implements yaml.Unmarshaler.
func (g *GroupField) UnmarshalYAML(n *yaml.Node) error {
	for _, f := range GroupFields {
		if n.Kind == yaml.ScalarNode && n.Value == f {
			*g = GroupField(f)
			return nil
		}
	}
	return fmt.Errorf("line %d: unknown group-by field %q (want one of %s)", n.Line, n.Value, strings.Join(GroupFields, ", "))
}

type yamlDefaultRoute struct {
	Targets    []Target `yaml:"targets"`
	Escalation string   `yaml:"escalation"`
}

type yamlEscalation struct {
	Policies   []configs.Section `yaml:"policies"`
	BySeverity map[string]string `yaml:"by_severity"`
}

type yamlPolicy struct {
	Name       string            `yaml:"name"`
	Levels     []configs.Section `yaml:"levels"`
	RepeatLast bool              `yaml:"repeat_last"`
}

type yamlAskActor struct {
	Rules       []string          `yaml:"rules"`
	Timeout     *configs.Duration `yaml:"timeout"`
	Users       []configs.Section `yaml:"users"`
	EmailLookup []string          `yaml:"email_lookup"`
}

type yamlTasks struct {
	Due          map[string]configs.Duration `yaml:"due"`
	RemindBefore []configs.Duration          `yaml:"remind_before"`
	RemindAfter  *configs.Duration           `yaml:"remind_after"`
	RemindEvery  *configs.Duration           `yaml:"remind_every"`
	MaxOverdue   *int                        `yaml:"max_overdue_reminders"`
	Webhook      configs.Section             `yaml:"webhook"`
}

type yamlWebhook struct {
	URL        configs.Secret    `yaml:"url"`
	URLFile    string            `yaml:"url_file"`
	Secret     configs.Secret    `yaml:"secret"`
	SecretFile string            `yaml:"secret_file"`
	Timeout    *configs.Duration `yaml:"timeout"`
}

type yamlDigest struct {
	Name     string           `yaml:"name"`
	Schedule string           `yaml:"schedule"`
	Since    configs.Duration `yaml:"since"`
	Targets  []Target         `yaml:"targets"`
	Chart    *bool            `yaml:"chart"`
}

type yamlVerification struct {
	Builtin *bool             `yaml:"builtin"`
	Rules   []configs.Section `yaml:"rules"`
}

// LoadConfig decodes the `workflows:` section strictly, applies defaults
// and checks it. notifiers are the notifier names targets may use. Errors
// name the file, line and key.
func LoadConfig(sec configs.Section, notifiers []string) (*Config, error) {
	c := DefaultConfig()
	var y yamlConfig
	if err := sec.Decode(&y); err != nil {
		return nil, err
	}
	l := loader{notifiers: notifiers}
	if y.GroupWindow != nil {
		if y.GroupWindow.D() <= 0 {
			return nil, sec.Errorf("group_window", "must be longer than 0s")
		}
		c.GroupWindow = y.GroupWindow.D()
	}
	if y.FoldAWSByPrincipal != nil {
		c.KeepAWSApart = !*y.FoldAWSByPrincipal
	}
	for _, g := range y.GroupBy {
		c.GroupBy = append(c.GroupBy, string(g))
	}
	if len(y.GroupByRules) > 0 {
		c.GroupByRules = map[string][]string{}
		for rule, fs := range y.GroupByRules {
			if len(fs) == 0 {
				return nil, sec.Errorf("group_by_rules", "rule %q needs at least one field", rule)
			}
			for _, g := range fs {
				c.GroupByRules[rule] = append(c.GroupByRules[rule], string(g))
			}
		}
	}
	if y.TickSchedule != "" {
		if _, err := configs.ParseSchedule(y.TickSchedule); err != nil {
			return nil, sec.Errorf("tick_schedule", "invalid schedule %q: %v", y.TickSchedule, err)
		}
		c.TickSchedule = y.TickSchedule
	}
	if y.MaxCardCopies != nil {
		if *y.MaxCardCopies < 1 || *y.MaxCardCopies > 20 {
			return nil, sec.Errorf("max_card_copies", "must be between 1 and 20, not %d", *y.MaxCardCopies)
		}
		c.MaxCardCopies = *y.MaxCardCopies
	}
	if err := l.escalation(c, y.Escalation); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, rs := range y.Routes {
		var r Route
		if err := rs.Decode(&r); err != nil {
			return nil, err
		}
		if r.Name == "" {
			r.Name = strings.TrimPrefix(rs.Path(), sec.Path()+".")
		} else if names[r.Name] {
			return nil, rs.Errorf("name", "duplicate route name %q", r.Name)
		}
		names[r.Name] = true
		switch {
		case r.Digest && len(r.Targets) > 0:
			return nil, rs.Errorf("targets", "a digest route posts nothing: remove its targets, or digest: true")
		case r.Digest && r.Escalation != "":
			return nil, rs.Errorf("escalation", "a digest route posts nothing, so it cannot escalate")
		case !r.Digest && len(r.Targets) == 0:
			return nil, rs.Errorf("targets", "a route needs at least one target (or digest: true to keep its alerts for the digest only)")
		}
		if err := l.targets(rs, "targets", r.Targets); err != nil {
			return nil, err
		}
		if err := l.patterns(rs, "match", r.Match.Rules, r.Match.Accounts, r.Match.Tags); err != nil {
			return nil, err
		}
		if err := l.policyRef(c, rs, r.Escalation); err != nil {
			return nil, err
		}
		c.Routes = append(c.Routes, r)
	}
	if !y.DefaultRoute.IsZero() {
		var d yamlDefaultRoute
		if err := y.DefaultRoute.Decode(&d); err != nil {
			return nil, err
		}
		if err := l.targets(y.DefaultRoute, "targets", d.Targets); err != nil {
			return nil, err
		}
		if err := l.policyRef(c, y.DefaultRoute, d.Escalation); err != nil {
			return nil, err
		}
		c.DefaultRoute = Route{Name: "default", Targets: d.Targets, Escalation: d.Escalation}
	}
	if err := l.askActor(c, y.AskActor); err != nil {
		return nil, err
	}
	if err := l.tasks(c, y.Tasks); err != nil {
		return nil, err
	}
	digestNames := map[string]bool{}
	for _, ds := range y.Digests {
		var d yamlDigest
		if err := ds.Decode(&d); err != nil {
			return nil, err
		}
		if d.Name == "" {
			return nil, ds.Errorf("name", "a digest needs a name")
		}
		if digestNames[d.Name] {
			return nil, ds.Errorf("name", "duplicate digest name %q", d.Name)
		}
		digestNames[d.Name] = true
		if d.Schedule == "" {
			return nil, ds.Errorf("schedule", "a digest needs a schedule, e.g. \"0 9 * * 1\" for Mondays at 09:00")
		}
		sch, err := configs.ParseSchedule(d.Schedule)
		if err != nil {
			return nil, ds.Errorf("schedule", "invalid schedule %q: %v", d.Schedule, err)
		}
		if d.Since <= 0 {
			return nil, ds.Errorf("since", "a digest needs a period, e.g. since: 7d")
		}
		if d.Since.D() > 366*24*time.Hour {
			return nil, ds.Errorf("since", "a digest covers at most 366d")
		}
		if err := l.targets(ds, "targets", d.Targets); err != nil {
			return nil, err
		}
		spec := DigestSpec{Name: d.Name, Schedule: sch, Spec: d.Schedule, Since: d.Since.D(), Targets: d.Targets, Chart: d.Chart == nil || *d.Chart}
		if len(spec.Targets) == 0 {
			spec.Targets = []Target{{}}
		}
		c.Digests = append(c.Digests, spec)
	}
	if err := l.verification(c, y.Verification); err != nil {
		return nil, err
	}
	return c, nil
}

type loader struct {
	notifiers []string
}

func (l loader) knownNotifier(n string) bool {
	for _, k := range l.notifiers {
		if k == n {
			return true
		}
	}
	return false
}

func (l loader) targets(sec configs.Section, key string, ts []Target) error {
	for i, t := range ts {
		k := fmt.Sprintf("%s[%d]", key, i)
		if t.Notifier != "" && !l.knownNotifier(t.Notifier) {
			return sec.Errorf(key, "%s: unknown notifier %q (want one of %s)", k, t.Notifier, strings.Join(l.notifiers, ", "))
		}
		if (t.Channel != "" || t.DirectTo != "") && t.Notifier == "" {
			return sec.Errorf(key, "%s: a channel or user id belongs to one platform: name its notifier", k)
		}
		if t.Channel != "" && t.DirectTo != "" {
			return sec.Errorf(key, "%s: give a channel or direct_to, not both", k)
		}
	}
	return nil
}

func (l loader) patterns(sec configs.Section, key string, lists ...[]string) error {
	for _, ps := range lists {
		for _, p := range ps {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				return sec.Errorf(key, "invalid pattern %q", p)
			}
		}
	}
	return nil
}

func (l loader) policyRef(c *Config, sec configs.Section, name string) error {
	if name == "" {
		return nil
	}
	if _, ok := c.Policies[name]; !ok {
		return sec.Errorf("escalation", "unknown escalation policy %q (define it under escalation.policies)", name)
	}
	return nil
}

func (l loader) escalation(c *Config, sec configs.Section) error {
	if sec.IsZero() {
		return nil
	}
	var y yamlEscalation
	if err := sec.Decode(&y); err != nil {
		return err
	}
	for _, ps := range y.Policies {
		var yp yamlPolicy
		if err := ps.Decode(&yp); err != nil {
			return err
		}
		if yp.Name == "" {
			return ps.Errorf("name", "a policy needs a name")
		}
		if _, dup := c.Policies[yp.Name]; dup {
			return ps.Errorf("name", "duplicate policy name %q", yp.Name)
		}
		if len(yp.Levels) == 0 {
			return ps.Errorf("levels", "a policy needs at least one level")
		}
		p := &Policy{Name: yp.Name, RepeatLast: yp.RepeatLast}
		for _, ls := range yp.Levels {
			var lv Level
			if err := ls.Decode(&lv); err != nil {
				return err
			}
			if lv.After.D() <= 0 {
				return ls.Errorf("after", "a level needs a delay, e.g. after: 30m")
			}
			if len(lv.Targets) == 0 {
				return ls.Errorf("targets", "a level needs at least one target")
			}
			if err := l.targets(ls, "targets", lv.Targets); err != nil {
				return err
			}
			p.Levels = append(p.Levels, lv)
		}
		c.Policies[p.Name] = p
	}
	if len(y.BySeverity) > 0 {
		c.PolicyBySeverity = map[detectors.Severity]string{}
		for k, name := range y.BySeverity {
			sev, err := detectors.ParseSeverity(k)
			if err != nil {
				return sec.Errorf("by_severity", "%v", err)
			}
			if _, ok := c.Policies[name]; !ok {
				return sec.Errorf("by_severity", "%s: unknown escalation policy %q", k, name)
			}
			c.PolicyBySeverity[sev] = name
		}
	}
	return nil
}

func (l loader) askActor(c *Config, sec configs.Section) error {
	if sec.IsZero() {
		return nil
	}
	var y yamlAskActor
	if err := sec.Decode(&y); err != nil {
		return err
	}
	if len(y.Rules) == 0 {
		return sec.Errorf("rules", "list the rules whose alerts ask the actor")
	}
	if err := l.patterns(sec, "rules", y.Rules); err != nil {
		return err
	}
	c.AskActor.Rules = y.Rules
	if y.Timeout != nil {
		if y.Timeout.D() <= 0 {
			return sec.Errorf("timeout", "must be longer than 0s")
		}
		c.AskActor.Timeout = y.Timeout.D()
	}
	for _, us := range y.Users {
		var u ActorUser
		if err := us.Decode(&u); err != nil {
			return err
		}
		if u.Principal == "" && u.Email == "" {
			return us.Errorf("principal", "a user needs a principal (ARN or name) or an email")
		}
		if u.Slack == "" && u.Discord == "" {
			return us.Errorf("slack", "a user needs a slack or discord user id")
		}
		if err := l.patterns(us, "principal", []string{cmpOr(u.Principal, "x")}); err != nil {
			return err
		}
		c.AskActor.Users = append(c.AskActor.Users, u)
	}
	for _, n := range y.EmailLookup {
		if !l.knownNotifier(n) {
			return sec.Errorf("email_lookup", "unknown notifier %q", n)
		}
	}
	c.AskActor.EmailLookup = y.EmailLookup
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (l loader) tasks(c *Config, sec configs.Section) error {
	if sec.IsZero() {
		return nil
	}
	var y yamlTasks
	if err := sec.Decode(&y); err != nil {
		return err
	}
	for k, d := range y.Due {
		sev, err := detectors.ParseSeverity(k)
		if err != nil {
			return sec.Errorf("due", "%v", err)
		}
		if d <= 0 {
			return sec.Errorf("due", "%s: must be longer than 0s", k)
		}
		c.Tasks.Due[sev] = d.D()
	}
	if y.RemindBefore != nil {
		c.Tasks.RemindBefore = nil
		for _, d := range y.RemindBefore {
			if d <= 0 {
				return sec.Errorf("remind_before", "durations must be longer than 0s")
			}
			c.Tasks.RemindBefore = append(c.Tasks.RemindBefore, d.D())
		}
	}
	if y.RemindAfter != nil {
		c.Tasks.RemindAfter = y.RemindAfter.D()
	}
	if y.RemindEvery != nil {
		c.Tasks.RemindEvery = y.RemindEvery.D()
	}
	if y.MaxOverdue != nil {
		if *y.MaxOverdue < 0 || *y.MaxOverdue > 100 {
			return sec.Errorf("max_overdue_reminders", "must be between 0 and 100")
		}
		c.Tasks.MaxOverdue = *y.MaxOverdue
	}
	if c.Tasks.MaxOverdue > 1 && c.Tasks.RemindEvery <= 0 {
		return sec.Errorf("remind_every", "must be longer than 0s when max_overdue_reminders is above 1")
	}
	if y.Webhook.IsZero() {
		return nil
	}
	var w yamlWebhook
	if err := y.Webhook.Decode(&w); err != nil {
		return err
	}
	u, err := configs.ResolveSecret(y.Webhook, "url", w.URL, w.URLFile, false)
	if err != nil {
		return err
	}
	if v := u.Reveal(); !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		return y.Webhook.Errorf("url", "must be an http:// or https:// URL")
	}
	s, err := configs.ResolveSecret(y.Webhook, "secret", w.Secret, w.SecretFile, false)
	if err != nil {
		return err
	}
	c.Tasks.Webhook.URL, c.Tasks.Webhook.Secret = u, s
	if w.Timeout != nil {
		if w.Timeout.D() <= 0 {
			return y.Webhook.Errorf("timeout", "must be longer than 0s")
		}
		c.Tasks.Webhook.Timeout = w.Timeout.D()
	}
	return nil
}

func (l loader) verification(c *Config, sec configs.Section) error {
	if sec.IsZero() {
		return nil
	}
	var y yamlVerification
	if err := sec.Decode(&y); err != nil {
		return err
	}
	if y.Builtin != nil && !*y.Builtin {
		c.Verifications = nil
	}
	names := map[string]bool{}
	for _, vs := range y.Rules {
		var v Verification
		if err := vs.Decode(&v); err != nil {
			return err
		}
		if v.Name == "" {
			return vs.Errorf("name", "a verification needs a name")
		}
		if names[v.Name] {
			return vs.Errorf("name", "duplicate verification name %q", v.Name)
		}
		names[v.Name] = true
		if len(v.Rules) == 0 && v.FindingAction == "" {
			return vs.Errorf("rules", "give the rules (or finding_action) this verification applies to")
		}
		if err := l.patterns(vs, "rules", v.Rules); err != nil {
			return err
		}
		if len(v.FixedBy) == 0 {
			return vs.Errorf("fixed_by", "list the actions that fix it, e.g. [RevokeSecurityGroupIngress]")
		}
		if len(v.Same) == 0 {
			return vs.Errorf("same", "name at least one field the fixing event shares with the finding (e.g. requestParameters.groupId), or any such action anywhere would close the task")
		}
		for i := range v.Same {
			if v.Same[i].Finding == "" {
				return vs.Errorf("same", "same[%d]: finding path is required", i)
			}
			if v.Same[i].Event == "" {
				v.Same[i].Event = v.Same[i].Finding
			}
		}
		// A configured verification replaces a built-in one of the same name.
		replaced := false
		for i := range c.Verifications {
			if c.Verifications[i].Name == v.Name {
				c.Verifications[i], replaced = v, true
			}
		}
		if !replaced {
			c.Verifications = append(c.Verifications, v)
		}
	}
	return nil
}

// PolicyNames returns the policy names, sorted.
func (c *Config) PolicyNames() []string {
	out := make([]string, 0, len(c.Policies))
	for n := range c.Policies {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
