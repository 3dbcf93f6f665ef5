package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/sigma"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/file"
	"github.com/trailhound/trailhound/workflows"
)

// rulesConfig is the detectors.rules section of the config file.
type rulesConfig struct {
	// Builtin loads the built-in pack; default true.
	Builtin *bool `yaml:"builtin"`
	// Dirs are directories of YAML rule files; a rule whose id matches a
	// built-in rule replaces it.
	Dirs []string `yaml:"dirs"`
	// SigmaDirs are directories of SigmaHQ rules for CloudTrail, loaded as
	// they are; rules that cannot be translated are skipped with a warning.
	SigmaDirs []string `yaml:"sigma_dirs"`
	// Enable turns on rules shipped off (enabled: false).
	Enable []string `yaml:"enable"`
	// Disable turns rules off by id.
	Disable []string `yaml:"disable"`
	// DeploymentPrincipals are role and user name patterns of deployment
	// tooling (the rule field deployer); nil keeps the defaults.
	DeploymentPrincipals []string `yaml:"deployment_principals"`
}

// loadRulePack builds the rule pack a config asks for. Sigma rules that
// cannot be translated are logged and skipped.
func loadRulePack(cfg *configs.Config, warn func(err error)) (*rules.Pack, error) {
	var dc detectorsConfig
	if err := cfg.Detectors.Decode(&dc); err != nil {
		return nil, err
	}
	sec := dc.Rules
	var rc rulesConfig
	if err := sec.Decode(&rc); err != nil {
		return nil, err
	}
	opts := rules.Options{NoBuiltin: rc.Builtin != nil && !*rc.Builtin, Enable: rc.Enable, Disable: rc.Disable, DeploymentPrincipals: rc.DeploymentPrincipals}
	for _, d := range rc.Dirs {
		opts.Dirs = append(opts.Dirs, cfg.ResolvePath(d))
	}
	for i, d := range rc.SigmaDirs {
		defs, skipped, err := sigma.LoadDir(cfg.ResolvePath(d))
		if err != nil {
			return nil, sec.Errorf(fmt.Sprintf("sigma_dirs[%d]", i), "%v", err)
		}
		for _, e := range skipped {
			warn(e)
		}
		opts.Extra = append(opts.Extra, defs...)
	}
	p, err := rules.Load(opts)
	if err != nil {
		if _, ok := err.(*rules.Error); ok {
			return nil, err
		}
		return nil, sec.Errorf("", "%v", err)
	}
	return p, nil
}

// buildRules is the "rules" detector kind: every rule of the pack, with
// threshold windows loaded from the database.
func buildRules(a *app, _ configs.Section) ([]detectors.Detector, error) {
	p, err := loadRulePack(a.cfg, func(err error) { a.log.Warn("sigma rule skipped", "err", err) })
	if err != nil {
		return nil, err
	}
	if err := p.LoadState(a.db); err != nil {
		return nil, err
	}
	return p.Detectors(), nil
}

const rulesUsage = `Usage: trailhound rules COMMAND [flags]

Commands:
  list   list the rules of the pack (built-in, rule directories, Sigma)
  test   run the rules' inline tests, or run the rules over log files
  eval   measure the pack against the Stratus Red Team and Invictus datasets,
         or against a file of labelled cases (--cases)
  compile
         show what rules become in Athena SQL, Logs Insights or a CloudWatch
         Logs filter pattern, and which parts stay in process
  backtest
         run new or changed rules over history (Athena, LookupEvents, files):
         the findings and alerts they would have raised; stores nothing

Run "trailhound rules COMMAND --help" for flags.

Examples:
  trailhound rules list
  trailhound rules test --rule aws-root-account-use
  trailhound rules test ./logs/cloudtrail.json.gz
  trailhound rules eval
  trailhound rules eval --cases detectors/rules/testdata/labelled/cases.jsonl
`

func cmdRules(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, rulesUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "list":
		return cmdRulesList(e, args[1:])
	case "test":
		return cmdRulesTest(e, args[1:])
	case "eval":
		return cmdRulesEval(e, args[1:])
	case "backtest":
		return cmdRulesBacktest(e, args[1:])
	case "compile":
		return cmdRulesCompile(e, args[1:])
	}
	fmt.Fprintf(e.stderr, "trailhound rules: unknown command %q\n\n%s", args[0], rulesUsage)
	return exitUsage
}

// packFromFlag loads the pack of the config at path (the embedded demo
// config when empty), printing skipped Sigma rules to stderr.
func packFromFlag(e *env, path string) (*rules.Pack, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return loadRulePack(cfg, func(err error) { fmt.Fprintf(e.stderr, "warning: skipped %v\n", err) })
}

const rulesListExamples = `  # the built-in pack
  trailhound rules list

  # the pack a config builds (rule directories, Sigma rules, enable/disable)
  trailhound rules list --config trailhound.yaml --format json
`

type ruleInfo struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Severity    string   `json:"severity"`
	Technique   string   `json:"technique,omitempty"`
	Kind        string   `json:"kind"`
	Origin      string   `json:"origin"`
	File        string   `json:"file"`
	Enabled     bool     `json:"enabled"`
	Tags        []string `json:"tags,omitempty"`
	Description string   `json:"description"`
	// Pushdown is the rule's status per engine (athena, insights,
	// filter-pattern).
	Pushdown map[string]pushdownInfo `json:"pushdown,omitempty"`

	// shortKind is Kind for the text table: "event" or "threshold 5/10m".
	shortKind string
}

func allBuiltin(infos []ruleInfo) bool {
	for _, in := range infos {
		if in.Origin != "builtin" {
			return false
		}
	}
	return true
}

// listWidth is the widest line of `rules list`.
const listWidth = 120

// shortWindow prints a window as 10m, 6h or 2d.
func shortWindow(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

func infoOf(d rules.Definition, on bool) ruleInfo {
	kind, short := "event", "event"
	if t := d.Threshold; t != nil {
		kind = "threshold " + t.String()
		short = fmt.Sprintf("threshold %d/%s", t.Count, shortWindow(t.Window))
	}
	return ruleInfo{ID: d.ID, Title: d.Title, Severity: d.Severity.String(), Technique: d.Technique, Kind: kind, Origin: d.Origin,
		File: fmt.Sprintf("%s:%d", d.File, d.Line), Enabled: on, Tags: d.Tags, Description: d.Description, shortKind: short}
}

func cmdRulesList(e *env, args []string) int {
	fs := newFlags(e, "rules list", "[flags]", rulesListExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	format := fs.String("format", "text", "output `format`: text or json")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *format != "text" && *format != "json" {
		return fail(e, "--format must be text or json, not %q", *format)
	}
	p, err := packFromFlag(e, *cfgPath)
	if err != nil {
		return fail(e, "%v", err)
	}
	var infos []ruleInfo
	for _, r := range p.Sorted() {
		in := infoOf(r.Definition(), true)
		in.Pushdown = pushdownOf(r)
		infos = append(infos, in)
	}
	for _, d := range p.Off() {
		in := infoOf(d, false)
		if r, err := rules.Compile(d); err == nil {
			in.Pushdown = pushdownOf(r)
		}
		infos = append(infos, in)
	}
	sort.SliceStable(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(infos); err != nil {
			return fail(e, "write output: %v", err)
		}
		return exitOK
	}
	// The table fits listWidth columns: the kind is short (the full
	// threshold is in --format json and RULES.md), the origin is shown
	// only when some rule is not built in, and a long title is clipped.
	var rows [][6]string
	widths := [6]int{len("ID"), len("SEVERITY"), len("TECHNIQUE"), len("KIND"), len("PUSHDOWN"), len("ORIGIN")}
	on := 0
	for _, in := range infos {
		id := in.ID
		if !in.Enabled {
			id += " (off)"
		} else {
			on++
		}
		origin := in.Origin
		if origin != "builtin" && origin != "sigma" {
			origin = "file"
		}
		r := [6]string{id, in.Severity, dash(in.Technique), in.shortKind, pushdownMark(in.Pushdown), origin}
		for c, v := range r {
			widths[c] = max(widths[c], utf8.RuneCountInString(v))
		}
		rows = append(rows, r)
	}
	cols := 6
	if allBuiltin(infos) {
		cols = 5
	}
	titleAt := 0
	for _, w := range widths[:cols] {
		titleAt += w + 2
	}
	line := func(r [6]string, title string) {
		var b strings.Builder
		for c, v := range r[:cols] {
			b.WriteString(v)
			b.WriteString(strings.Repeat(" ", widths[c]-utf8.RuneCountInString(v)+2))
		}
		if room := listWidth - titleAt; utf8.RuneCountInString(title) > room {
			title = string([]rune(title)[:max(room-1, 0)]) + "…"
		}
		b.WriteString(title)
		fmt.Fprintln(e.stdout, strings.TrimRight(b.String(), " "))
	}
	line([6]string{"ID", "SEVERITY", "TECHNIQUE", "KIND", "PUSHDOWN", "ORIGIN"}, "TITLE")
	for i, r := range rows {
		line(r, infos[i].Title)
	}
	fmt.Fprintf(e.stdout, "%d rules on, %d off\n%s\n", on, len(infos)-on, pushdownLegend)
	return exitOK
}

const rulesTestExamples = `  # run every rule's inline tests
  trailhound rules test

  # run one rule's inline tests, including rules from a config's directories
  trailhound rules test --config trailhound.yaml --rule aws-resource-made-public

  # run the rules over sample files and print what fires
  trailhound rules test ./samples/cloudtrail.json.gz
  trailhound rules test --rule aws-console-login-failures ./logs/2026/11/24
`

func cmdRulesTest(e *env, args []string) int {
	fs := newFlags(e, "rules test", "[flags] [PATH...]", rulesTestExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	only := fs.String("rule", "", "test only the rule with this `id`")
	verbose := fs.Bool("v", false, "print passing tests too")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	p, err := packFromFlag(e, *cfgPath)
	if err != nil {
		return fail(e, "%v", err)
	}
	if *only != "" {
		if _, ok := p.Rule(*only); !ok {
			return fail(e, "no rule %q in the pack (see trailhound rules list)", *only)
		}
	}
	if fs.NArg() > 0 {
		return rulesOverFiles(e, p, *only, fs.Args())
	}
	results := p.RunTests(*only)
	failed := 0
	for _, r := range results {
		switch {
		case r.Err != nil:
			failed++
			fmt.Fprintf(e.stdout, "FAIL %s: %s (%s:%d): %v\n", r.Rule, r.Name, r.File, r.Line, r.Err)
		case !r.Passed():
			failed++
			want := "fire"
			if !r.Want {
				want = "stay silent"
			}
			fmt.Fprintf(e.stdout, "FAIL %s: %s (%s:%d): the rule should %s\n", r.Rule, r.Name, r.File, r.Line, want)
		case *verbose:
			fmt.Fprintf(e.stdout, "ok   %s: %s\n", r.Rule, r.Name)
		}
	}
	fmt.Fprintf(e.stdout, "%d tests, %d failed\n", len(results), failed)
	if failed > 0 {
		return exitError
	}
	return exitOK
}

// rulesOverFiles runs the pack (or one rule) over log files with fresh
// state and prints the findings; nothing is stored.
func rulesOverFiles(e *env, p *rules.Pack, only string, paths []string) int {
	for _, path := range paths {
		if _, err := os.Stat(path); err != nil {
			return fail(e, "%v", err)
		}
	}
	var ds []detectors.Detector
	for _, r := range p.Rules() {
		if only == "" || r.ID() == only {
			ds = append(ds, r)
		}
	}
	eng := detectors.NewEngine(ds...)
	src, err := file.New("files", file.Options{Paths: paths, Rescan: true}, nil)
	if err != nil {
		return fail(e, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var findings []detectors.Finding
	events, malformed := 0, 0
	_, err = src.Fetch(ctx, nil, sources.FuncSink{
		OnEvent: func(ctx context.Context, ev *sources.Event) error {
			events++
			fs, _ := eng.Detect(ctx, ev)
			findings = append(findings, fs...)
			return nil
		},
		OnMalformed: func(m sources.Malformed) {
			malformed++
			fmt.Fprintf(e.stderr, "error: %s\n", m)
		},
	})
	if err != nil {
		return fail(e, "%v", err)
	}
	if len(findings) > 0 {
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tTIME (UTC)\tRULE\tPRINCIPAL\tACTION\tREASON")
		for _, f := range findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Time.UTC().Format("2006-01-02 15:04:05"), f.RuleID, dash(f.Principal.Name), dash(f.Action), f.Reason)
		}
		tw.Flush()
	}
	fmt.Fprintf(e.stdout, "%d events, %d findings", events, len(findings))
	if malformed > 0 {
		fmt.Fprintf(e.stdout, ", %d malformed records skipped", malformed)
	}
	fmt.Fprintln(e.stdout)
	return exitOK
}

const rulesEvalExamples = `  # the built-in pack against the shared datasets (run from the repository root)
  trailhound rules eval

  # the pack a config builds, with other dataset locations
  trailhound rules eval --config trailhound.yaml --stratus ./stratus --invictus ./invictus.jsonl

  # labelled cases, one {"expected": true|false, "event": {...}} a line
  trailhound rules eval --cases detectors/rules/testdata/labelled/cases.jsonl
  trailhound rules eval --cases mine.jsonl --format json
`

// Quality bar of the built-in pack.
const (
	evalMinDetected   = 30
	evalMaxBackground = 5
)

func cmdRulesEval(e *env, args []string) int {
	fs := newFlags(e, "rules eval", "[flags]", rulesEvalExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	stratus := fs.String("stratus", filepath.Join("..", "shared", "data", "stratus_red_team_detonation_logs"), "`directory` of Stratus Red Team detonation logs (one JSON array per technique)")
	invictus := fs.String("invictus", filepath.Join("..", "shared", "data", "invictus_sigma_aws_stratus", "invictus_sigma_aws_stratus.jsonl"), "Invictus CloudTrail `file`; its records without the Stratus user agent are the background")
	cases := fs.String("cases", "", "labelled cases `file` (JSON Lines: {\"expected\": true|false, \"event\": {...}}); measures them instead of the datasets")
	format := fs.String("format", "text", "output `format` of --cases: text or json")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	switch {
	case *format != "text" && *format != "json":
		return fail(e, "--format must be text or json, not %q", *format)
	case *format == "json" && *cases == "":
		return fail(e, "--format json is for --cases")
	}
	pack, err := packFromFlag(e, *cfgPath)
	if err != nil {
		return fail(e, "%v", err)
	}
	newEngine := func() (*detectors.Engine, error) {
		p, err := packFromFlag(&env{stdout: io.Discard, stderr: io.Discard, getenv: e.getenv}, *cfgPath)
		if err != nil {
			return nil, err
		}
		return detectors.NewEngine(p.Detectors()...), nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *cases != "" {
		return rulesEvalCases(ctx, e, *cases, *format, func() (*detectors.Engine, error) { return pack.FreshEngine(), nil })
	}
	if hint := datasetsMissing(*stratus, *invictus); hint != "" {
		return fail(e, "%s", hint)
	}

	cov, err := rules.EvalStratus(ctx, *stratus, newEngine)
	if err != nil {
		return fail(e, "%v", err)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TECHNIQUE\tEVENTS\tFINDINGS\tRULES")
	detected := 0
	for _, c := range cov {
		rs := strings.Join(c.Rules, ", ")
		if c.Detected() {
			detected++
		} else {
			rs = "MISSED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", c.Technique, c.Events, c.Findings, rs)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\nStratus Red Team coverage: %d/%d techniques detected\n\n", detected, len(cov))

	noise, err := rules.EvalBackground(ctx, *invictus, newEngine, rules.NotStratus)
	if err != nil {
		return fail(e, "%v", err)
	}
	stored, err := ingestAlerts(noise.All)
	if err != nil {
		return fail(e, "count alerts: %v", err)
	}
	tw = tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALERT RULE\tSEVERITY\tPRINCIPAL\tFINDINGS\tFIRST REASON")
	for _, a := range noise.Alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", a.RuleID, a.Severity, dash(a.Principal), a.Count, a.Reason)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\nBackground (Invictus records without the Stratus marker): %d events, %d findings, %d alerts in the alert store\n", noise.Events, noise.Findings, stored)

	if detected < evalMinDetected || stored > evalMaxBackground {
		fmt.Fprintf(e.stdout, "quality bar NOT met: want at least %d techniques and at most %d background alerts\n", evalMinDetected, evalMaxBackground)
		return exitError
	}
	fmt.Fprintf(e.stdout, "quality bar met: at least %d techniques, at most %d background alerts\n", evalMinDetected, evalMaxBackground)
	return exitOK
}

// ingestAlerts stores findings in a throw-away alert store, as a job would,
// and returns how many alerts they became.
func ingestAlerts(fs []detectors.Finding) (int, error) {
	dir, err := os.MkdirTemp("", "trailhound-eval-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(filepath.Join(dir, "eval.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	store, err := workflows.NewStore(db)
	if err != nil {
		return 0, err
	}
	var n int
	err = db.Update(func(tx *bolt.Tx) error {
		res, err := store.Ingest(tx, fs)
		n = len(res.New)
		return err
	})
	return n, err
}
