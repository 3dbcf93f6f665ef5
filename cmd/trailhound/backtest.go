package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/rules/pushdown"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/athena"
	"github.com/trailhound/trailhound/sources/cloudtrail"
	"github.com/trailhound/trailhound/sources/cloudwatch"
	"github.com/trailhound/trailhound/sources/file"
	"github.com/trailhound/trailhound/workflows"
)

const backtestExamples = `  # how noisy would a built-in rule have been over the last 90 days,
  # on every source of the config (Athena, Logs Insights, LookupEvents, files)
  trailhound rules backtest --config trailhound.yaml --rule aws-console-login-without-mfa

  # a new or changed rule file, over one source, for a month, for machines
  trailhound rules backtest --config trailhound.yaml --file ./my-rules.yaml --source trail-athena --since 30d --format json

  # over exported CloudTrail files (read whole unless --since is given)
  trailhound rules backtest --rule aws-root-account-use ../shared/data/invictus_sigma_aws_stratus/original
`

// athenaDollarsPerTB is Athena's list price per TB scanned, for the cost
// estimate a backtest prints.
const athenaDollarsPerTB = 5.0

// athenaMinBytes is the least Athena bills for one query.
const athenaMinBytes = 10 << 20

// insightsDollarsPerGB is CloudWatch Logs Insights' list price per GB
// scanned, for the cost estimate a backtest prints.
const insightsDollarsPerGB = 0.005

// backtestReport is what a backtest found: the findings the rules would
// have made, the alerts those would have grouped into, and what reading
// the history cost. Nothing of it is stored.
type backtestReport struct {
	Rules []string  `json:"rules"`
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Sources say what each source read and how.
	Sources  []backtestSource `json:"sources"`
	Events   int              `json:"events"`
	Findings int              `json:"findings"`
	Alerts   int              `json:"alerts"`
	ByRule   []backtestCount  `json:"by_rule"`
	// Weeks count findings and new alerts per week (starting Monday, UTC,
	// by event time), oldest first.
	Weeks         []backtestWeek    `json:"weeks"`
	TopPrincipals []backtestCount   `json:"top_principals"`
	TopAccounts   []backtestCount   `json:"top_accounts"`
	Examples      []backtestExample `json:"examples"`
	Cost          backtestCost      `json:"cost"`
	// InsightsCost is what the Logs Insights queries of cloudwatch
	// sources scanned, apart from Athena's.
	InsightsCost backtestCost `json:"insights_cost"`
	Errors       []string     `json:"errors,omitempty"`
	Seconds      float64      `json:"seconds"`
}

type backtestSource struct {
	Name string `json:"name"`
	// Via says how history was read: athena (one query with the rules'
	// pushed-down condition), insights (Logs Insights queries with the
	// rules' pushed-down filter, per log group and slice of the window),
	// lookup-events (CloudTrail's 90 days of management events), or read
	// (the source read whole over the window: files, S3).
	Via          string `json:"via"`
	Events       int    `json:"events"`
	Malformed    int    `json:"malformed"`
	BytesScanned int64  `json:"bytes_scanned,omitempty"`
	Queries      int    `json:"queries,omitempty"`
	Note         string `json:"note,omitempty"`
}

type backtestCount struct {
	Key      string `json:"key"`
	Findings int    `json:"findings"`
	Alerts   int    `json:"alerts,omitempty"`
}

type backtestWeek struct {
	Week     string `json:"week"`
	Findings int    `json:"findings"`
	Alerts   int    `json:"alerts"`
}

type backtestExample struct {
	Time      time.Time `json:"time"`
	Rule      string    `json:"rule"`
	Severity  string    `json:"severity"`
	Principal string    `json:"principal"`
	Account   string    `json:"account"`
	Action    string    `json:"action"`
	Reason    string    `json:"reason"`
	EventID   string    `json:"event_id"`
}

type backtestCost struct {
	BytesScanned int64 `json:"bytes_scanned"`
	Queries      int   `json:"queries"`
	// Dollars is an estimate at Athena's list price of $5 per TB, each
	// query billed at least 10 MB (Logs Insights: $0.005 per GB).
	Dollars float64 `json:"dollars_estimate"`
	Note    string  `json:"note"`
}

func cmdRulesBacktest(e *env, args []string) int {
	fs := newFlags(e, "rules backtest", "--rule ID | --file rules.yaml [flags] [PATH...]", backtestExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	var ruleIDs, only stringList
	fs.Var(&ruleIDs, "rule", "backtest the pack's rule with this `id`, enabled or not (repeatable)")
	ruleFile := fs.String("file", "", "backtest the rules of this YAML rule `file` (new rules, or changed ones with a pack rule's id)")
	since := fs.String("since", "90d", "read history from this `time` on: a duration ago (90d, 36h) or a date/RFC 3339 time; files are read whole unless it is given")
	until := fs.String("until", "", "read history before this `time` (default: now)")
	fs.Var(&only, "source", "read only this configured `source` (repeatable; default: every source, or the PATHs)")
	format := fs.String("format", "text", "output `format`: text or json")
	nExamples := fs.Int("examples", 5, "how many example findings to show, one per alert")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	sinceGiven := false
	fs.Visit(func(f *flag.Flag) { sinceGiven = sinceGiven || f.Name == "since" })
	switch {
	case *format != "text" && *format != "json":
		return fail(e, "--format must be text or json, not %q", *format)
	case len(ruleIDs) == 0 && *ruleFile == "":
		return fail(e, "give --rule ID or --file rules.yaml: the rules to backtest")
	case len(ruleIDs) > 0 && *ruleFile != "":
		return fail(e, "give --rule or --file, not both")
	case fs.NArg() > 0 && len(only) > 0:
		return fail(e, "give PATHs or --source, not both")
	}
	now := time.Now().UTC()
	start, err := parseWhen(*since, now)
	if err != nil {
		return fail(e, "--since: %v", err)
	}
	end, err := parseWhen(*until, now)
	if err != nil {
		return fail(e, "--until: %v", err)
	}
	if end.IsZero() {
		end = now
	}
	if fs.NArg() > 0 && !sinceGiven {
		start = time.Time{}
		if *until == "" {
			end = time.Time{}
		}
	}
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		return fail(e, "--since must be before --until")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(e, "%v", err)
	}
	tried, err := backtestRules(e, cfg, ruleIDs, *ruleFile)
	if err != nil {
		return fail(e, "%v", err)
	}
	// An app without a database: the sources are built as the bot builds
	// them, and nothing is opened or written in data_dir.
	a := &app{env: e, cfg: cfg, log: newLogger(io.Discard, cfg), now: time.Now}
	var ds []detectors.Detector
	for _, r := range tried {
		ds = append(ds, r)
	}
	a.engine = detectors.NewEngine(ds...)
	var srcs []sources.Source
	if fs.NArg() > 0 {
		for _, p := range fs.Args() {
			if _, err := os.Stat(p); err != nil {
				return fail(e, "%v", err)
			}
		}
		src, err := file.New("files", file.Options{Paths: fs.Args(), Rescan: true}, nil)
		if err != nil {
			return fail(e, "%v", err)
		}
		srcs = []sources.Source{src}
	} else {
		if srcs, err = a.buildSources(only); err != nil {
			return fail(e, "%v", err)
		}
		// In the demo, durations count back from the newest sample event.
		now := a.clock(e, srcs, "--since", *since, "--until", *until)
		start, _ = parseWhen(*since, now)
		if end, _ = parseWhen(*until, now); end.IsZero() {
			end = now
		}
	}
	wf, err := loadWorkflows(cfg)
	if err != nil {
		return fail(e, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := runBacktest(ctx, tried, srcs, sources.Window{Start: start, End: end}, wf, *nExamples)
	if err != nil {
		return fail(e, "%v", err)
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail(e, "%v", err)
		}
	} else {
		printBacktest(e.stdout, rep)
	}
	if len(rep.Errors) > 0 {
		return exitError
	}
	return exitOK
}

// backtestRules compiles the rules to try, with fresh state: the pack's
// rules named by id (also those turned off), or the rules of a file.
func backtestRules(e *env, cfg *configs.Config, ids []string, path string) ([]*rules.Rule, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		defs, err := rules.Parse(data, path, filepath.Dir(path))
		if err != nil {
			return nil, err
		}
		if len(defs) == 0 {
			return nil, fmt.Errorf("%s holds no rule", path)
		}
		var out []*rules.Rule
		for _, d := range defs {
			r, err := rules.Compile(d)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	pack, err := loadRulePack(cfg, func(err error) { fmt.Fprintf(e.stderr, "warning: skipped %v\n", err) })
	if err != nil {
		return nil, err
	}
	var out []*rules.Rule
	for _, id := range ids {
		var def *rules.Definition
		if r, ok := pack.Rule(id); ok {
			d := r.Definition()
			def = &d
		}
		for _, d := range pack.Off() {
			if d.ID == id {
				def = &d
			}
		}
		if def == nil {
			return nil, fmt.Errorf("no rule %q in the pack (see trailhound rules list)", id)
		}
		r, err := rules.Compile(*def)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// runBacktest reads every source over w, runs the rules on what it reads
// and groups the findings into alerts in a throw-away store outside
// data_dir, removed before it returns.
func runBacktest(ctx context.Context, tried []*rules.Rule, srcs []sources.Source, w sources.Window, wf *workflows.Config, nExamples int) (*backtestReport, error) {
	began := time.Now()
	rep := &backtestReport{Since: w.Start, Until: w.End}
	var ds []detectors.Detector
	for _, r := range tried {
		rep.Rules = append(rep.Rules, r.ID())
		ds = append(ds, r)
	}
	eng := detectors.NewEngine(ds...)
	cond := pushedCondition(ds)
	// The rules' Insights filter is over CloudTrail's fields; plain log
	// lines (web access logs, flow logs) are all read and judged in process.
	insightsQuery, unfiltered := pushdown.InsightsQuery(tried, pushdown.MaxInsightsQuery-len(cloudwatch.LimitSuffix)-cloudwatch.PlainLinesExtra)
	insightsQuery = cloudwatch.WithPlainLines(insightsQuery)

	dir, err := os.MkdirTemp("", "trailhound-backtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(filepath.Join(dir, "backtest.db"), 0o600, &bolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	store, err := workflows.NewStore(db)
	if err != nil {
		return nil, err
	}
	store.Config = wf

	byRule, principals, accounts, weeks := map[string]*backtestCount{}, map[string]int{}, map[string]int{}, map[string]*backtestWeek{}
	week := func(t time.Time) *backtestWeek {
		t = t.UTC()
		day := t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
		k := day.Format("2006-01-02")
		if weeks[k] == nil {
			weeks[k] = &backtestWeek{Week: k}
		}
		return weeks[k]
	}
	var pending []detectors.Finding
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		sort.SliceStable(pending, func(i, j int) bool { return pending[i].Time.Before(pending[j].Time) })
		var res workflows.IngestResult
		err := db.Update(func(tx *bolt.Tx) error {
			var err error
			res, err = store.Ingest(tx, pending)
			return err
		})
		if err != nil {
			return fmt.Errorf("group findings into alerts: %w", err)
		}
		for _, al := range res.New {
			rep.Alerts++
			week(al.Finding.Time).Alerts++
			byRule[al.Finding.RuleID].Alerts++
			if len(rep.Examples) < nExamples {
				f := al.Finding
				rep.Examples = append(rep.Examples, backtestExample{Time: f.Time, Rule: f.RuleID, Severity: f.Severity.String(),
					Principal: principalOf(f), Account: f.Account, Action: f.Action, Reason: f.Reason, EventID: firstOf(f.EventIDs)})
			}
		}
		pending = pending[:0]
		return nil
	}
	for _, src := range srcs {
		row := backtestSource{Name: src.Name(), Via: "read"}
		sink := sources.FuncSink{
			OnEvent: func(ctx context.Context, ev *sources.Event) error {
				row.Events++
				fs, _ := eng.Detect(ctx, ev)
				for _, f := range fs {
					rep.Findings++
					if byRule[f.RuleID] == nil {
						byRule[f.RuleID] = &backtestCount{Key: f.RuleID}
					}
					byRule[f.RuleID].Findings++
					principals[principalOf(f)]++
					accounts[dash(f.Account)]++
					week(f.Time).Findings++
				}
				pending = append(pending, fs...)
				if len(pending) >= 1000 {
					return flush()
				}
				return ctx.Err()
			},
			OnMalformed: func(sources.Malformed) { row.Malformed++ },
			OnScanned:   func(n int64) { row.BytesScanned += n; row.Queries++ },
		}
		var err error
		insights := false
		switch s := src.(type) {
		case *cloudwatch.Source:
			row.Via, insights = "insights", true
			row.Note = "filtered by the rules' Insights condition; plain log lines read whole"
			if len(unfiltered) > 0 {
				row.Note = "no filter, every record read: " + strings.Join(unfiltered, ", ") + " restrict nothing Logs Insights can test"
			}
			err = s.FetchRangeQuery(ctx, w, insightsQuery, sink.OnScanned, sink)
		case *athena.Source:
			row.Via = "athena"
			err = s.FetchRangeWhere(ctx, w, cond, sink)
		case *cloudtrail.Source:
			row.Via = "lookup-events"
			if earliest := time.Now().Add(-cloudtrail.Retention); w.Start.Before(earliest) {
				row.Note = "LookupEvents keeps 90 days of management events: data events and older history are not read"
			} else {
				row.Note = "management events only"
			}
			err = s.FetchRange(ctx, w, sink)
		default:
			_, err = sources.InWindow(src, w).Fetch(ctx, nil, sink)
		}
		if ferr := flush(); ferr != nil {
			return nil, ferr
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, err
			}
			rep.Errors = append(rep.Errors, fmt.Sprintf("source %s: %v", src.Name(), err))
		}
		rep.Events += row.Events
		if insights {
			rep.InsightsCost.BytesScanned += row.BytesScanned
			rep.InsightsCost.Queries += row.Queries
			rep.InsightsCost.Dollars += float64(row.BytesScanned) / 1e9 * insightsDollarsPerGB
		} else {
			rep.Cost.BytesScanned += row.BytesScanned
			rep.Cost.Queries += row.Queries
			rep.Cost.Dollars += queryDollars(row.BytesScanned, row.Queries)
		}
		rep.Sources = append(rep.Sources, row)
	}
	rep.Cost.Note = "estimate at Athena's list price of $5 per TB scanned, each query billed at least 10 MB; LookupEvents and file reads cost nothing"
	rep.InsightsCost.Note = "estimate at CloudWatch Logs Insights' list price of $0.005 per GB scanned"
	for _, id := range rep.Rules {
		c := byRule[id]
		if c == nil {
			c = &backtestCount{Key: id}
		}
		rep.ByRule = append(rep.ByRule, *c)
	}
	for _, wk := range weeks {
		rep.Weeks = append(rep.Weeks, *wk)
	}
	sort.Slice(rep.Weeks, func(i, j int) bool { return rep.Weeks[i].Week < rep.Weeks[j].Week })
	rep.TopPrincipals = top(principals, 5)
	rep.TopAccounts = top(accounts, 5)
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

// queryDollars estimates what queries that scanned bytes in all cost.
func queryDollars(bytes int64, queries int) float64 {
	if queries == 0 {
		return 0
	}
	billed := max(bytes, int64(queries)*athenaMinBytes)
	return float64(billed) / 1e12 * athenaDollarsPerTB
}

func principalOf(f detectors.Finding) string {
	if f.Principal.Name != "" {
		return f.Principal.Name
	}
	if f.Principal.ARN != "" {
		return f.Principal.ARN
	}
	return "-"
}

func firstOf(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}

// top returns the n keys with the most findings, most first.
func top(m map[string]int, n int) []backtestCount {
	out := make([]backtestCount, 0, len(m))
	for k, v := range m {
		out = append(out, backtestCount{Key: k, Findings: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Findings != out[j].Findings {
			return out[i].Findings > out[j].Findings
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func printBacktest(w io.Writer, rep *backtestReport) {
	span := "all of the input"
	switch {
	case !rep.Since.IsZero() && !rep.Until.IsZero():
		span = rep.Since.UTC().Format("2006-01-02 15:04") + " to " + rep.Until.UTC().Format("2006-01-02 15:04") + " UTC"
	case !rep.Since.IsZero():
		span = "the time from " + rep.Since.UTC().Format("2006-01-02 15:04") + " UTC"
	case !rep.Until.IsZero():
		span = "the time before " + rep.Until.UTC().Format("2006-01-02 15:04") + " UTC"
	}
	names := strings.Join(rep.Rules, ", ")
	if len(rep.Rules) > 5 {
		names = fmt.Sprintf("%d rules", len(rep.Rules))
	}
	fmt.Fprintf(w, "Backtest of %s over %s: nothing stored, nothing posted.\n\n", names, span)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tVIA\tEVENTS\tMALFORMED\tSCANNED\tNOTE")
	for _, s := range rep.Sources {
		scanned := "-"
		if s.Queries > 0 {
			scanned = sources.FormatBytes(s.BytesScanned)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", s.Name, s.Via, s.Events, s.Malformed, scanned, dash(s.Note))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s would have made %s in %s.\n", plural(rep.Events, "event"), plural(rep.Findings, "finding"), plural(rep.Alerts, "alert"))
	if len(rep.ByRule) > 1 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nRULE\tFINDINGS\tALERTS")
		silent := 0
		for _, r := range rep.ByRule {
			if r.Findings == 0 && len(rep.ByRule) > 10 {
				silent++
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\n", r.Key, r.Findings, r.Alerts)
		}
		tw.Flush()
		if silent > 0 {
			fmt.Fprintf(w, "(%s made no finding)\n", plural(silent, "other rule"))
		}
	}
	if len(rep.Weeks) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nWEEK OF\tFINDINGS\tALERTS")
		for _, wk := range rep.Weeks {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", wk.Week, wk.Findings, wk.Alerts)
		}
		tw.Flush()
	}
	for _, t := range []struct {
		title string
		rows  []backtestCount
	}{{"TOP PRINCIPALS", rep.TopPrincipals}, {"TOP ACCOUNTS", rep.TopAccounts}} {
		if len(t.rows) == 0 {
			continue
		}
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "\n%s\tFINDINGS\n", t.title)
		for _, r := range t.rows {
			fmt.Fprintf(tw, "%s\t%d\n", r.Key, r.Findings)
		}
		tw.Flush()
	}
	if len(rep.Examples) > 0 {
		fmt.Fprintln(w, "\nExamples (the first finding of each alert):")
		for _, x := range rep.Examples {
			fmt.Fprintf(w, "  %s %s %s by %s in %s: %s: %s\n", x.Time.UTC().Format("2006-01-02 15:04:05"), strings.ToUpper(x.Severity), x.Rule, x.Principal, dash(x.Account), dash(x.Action), x.Reason)
		}
	}
	switch {
	case rep.Cost.Queries == 0 && rep.InsightsCost.Queries > 0:
		fmt.Fprint(w, "\nQuery cost: no Athena query ran")
	case rep.Cost.Queries == 0:
		fmt.Fprint(w, "\nQuery cost: none, no Athena query ran")
	default:
		queries := "Athena queries"
		if rep.Cost.Queries == 1 {
			queries = "Athena query"
		}
		fmt.Fprintf(w, "\nQuery cost: %d %s scanned %s, about $%.4f (an estimate at $5 per TB, at least 10 MB a query)",
			rep.Cost.Queries, queries, sources.FormatBytes(rep.Cost.BytesScanned), rep.Cost.Dollars)
	}
	if n := rep.InsightsCost.Queries; n > 0 {
		queries := "Logs Insights queries"
		if n == 1 {
			queries = "Logs Insights query"
		}
		fmt.Fprintf(w, "; %d %s scanned %s, about $%.4f (an estimate at $0.005 per GB)",
			n, queries, sources.FormatBytes(rep.InsightsCost.BytesScanned), rep.InsightsCost.Dollars)
	}
	fmt.Fprintf(w, ". Took %.1fs.\n", rep.Seconds)
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}
