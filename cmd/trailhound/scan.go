package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

const scanExamples = `  # scan the bundled sample logs with the embedded demo config
  trailhound scan

  # scan files and directories (CloudTrail .json/.json.gz, JSON Lines, CloudWatch exports)
  trailhound scan ./logs/2026/11/24 extra.jsonl.gz

  # scan the last day of one configured source; exit 3 on high or critical findings
  trailhound scan --config trailhound.yaml --source prod-cloudtrail --since 24h --fail-on high

  # machine-readable output
  trailhound scan --format json ./logs > findings.json
`

// parseWhen parses a --since/--until value: a duration before now ("24h",
// "7d") or an RFC 3339 time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	d, err := configs.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor a time (2006-01-02 or RFC 3339)", s)
	}
	return now.Add(-d), nil
}

type scanFinding struct {
	detectors.Finding
	AlertID  string `json:"alert_id"`
	NewAlert bool   `json:"new_alert"`
}

type scanReport struct {
	Events    int                 `json:"events"`
	Malformed []sources.Malformed `json:"malformed"`
	// MalformedCount may exceed len(Malformed), which is capped.
	MalformedCount int           `json:"malformed_count"`
	Findings       []scanFinding `json:"findings"`
	NewAlerts      int           `json:"new_alerts"`
}

func cmdScan(e *env, args []string) int {
	fs := newFlags(e, "scan", "[flags] [PATH...]", scanExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	var only stringList
	fs.Var(&only, "source", "scan only this configured `source` (repeatable)")
	since := fs.String("since", "", "read events from this `time` on: a duration ago (24h, 7d) or a date/RFC 3339 time")
	until := fs.String("until", "", "read events before this `time`")
	failOn := fs.String("fail-on", "info", "exit 3 when a finding has at least this `severity` (info, low, medium, high, critical)")
	format := fs.String("format", "text", "output `format`: text or json")
	noNotify := fs.Bool("no-notify", false, "store alerts but post nothing to chat or terminal")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	threshold, err := detectors.ParseSeverity(*failOn)
	if err != nil {
		return fail(e, "--fail-on: %v", err)
	}
	if *format != "text" && *format != "json" {
		return fail(e, "--format must be text or json, not %q", *format)
	}
	now := time.Now()
	start, err := parseWhen(*since, now)
	if err != nil {
		return fail(e, "--since: %v", err)
	}
	end, err := parseWhen(*until, now)
	if err != nil {
		return fail(e, "--until: %v", err)
	}
	a, err := loadApp(e, *cfgPath)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()

	srcs, err := a.inputSources(fs.Args(), only)
	if err != nil {
		return fail(e, "%v", err)
	}

	var notifiers []workflows.Notifier
	if !*noNotify {
		out := e.stdout
		if *format == "json" {
			out = io.Discard // keep stdout valid JSON; chat notifiers still post
		}
		if notifiers, err = a.buildNotifiers(out); err != nil {
			return fail(e, "%v", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep := scanReport{Malformed: []sources.Malformed{}, Findings: []scanFinding{}}
	failed := false
	for _, src := range srcs {
		if !start.IsZero() || !end.IsZero() {
			src = sources.InWindow(src, sources.Window{Start: start, End: end})
		}
		job := &workflows.Job{Source: src, Detectors: a.engine, Alerts: a.alerts, Sources: a.srcStore, Log: a.log}
		res, err := job.Run(ctx)
		if res != nil {
			collect(a, &rep, res)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "error: %v\n", err)
			failed = true
		}
	}
	if len(notifiers) > 0 {
		a.dispatch(ctx, notifiers)
	}
	for _, m := range rep.Malformed {
		fmt.Fprintf(e.stderr, "error: %s\n", m)
	}
	if rep.MalformedCount > len(rep.Malformed) {
		fmt.Fprintf(e.stderr, "error: %d more malformed records not shown\n", rep.MalformedCount-len(rep.Malformed))
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail(e, "write output: %v", err)
		}
	} else {
		printScan(e.stdout, &rep)
	}
	switch {
	case failed:
		return exitError
	case hasAtLeast(rep.Findings, threshold):
		return exitFindings
	}
	return exitOK
}

// collect adds a job result to the report, resolving each finding to the
// alert it belongs to.
func collect(a *app, rep *scanReport, res *workflows.Result) {
	rep.Events += res.Events
	rep.MalformedCount += res.MalformedCount
	rep.Malformed = append(rep.Malformed, res.Malformed...)
	rep.NewAlerts += len(res.Ingest.New)
	fresh := map[string]bool{}
	for _, al := range res.Ingest.New {
		fresh[al.ID] = true
	}
	for _, f := range res.Findings {
		sf := scanFinding{Finding: f}
		if al, err := a.alerts.FindByFingerprint(f.Fingerprint); err == nil {
			sf.AlertID = al.ID
			sf.NewAlert = fresh[al.ID]
		}
		rep.Findings = append(rep.Findings, sf)
	}
}

func hasAtLeast(fs []scanFinding, s detectors.Severity) bool {
	for _, f := range fs {
		if f.Severity >= s {
			return true
		}
	}
	return false
}

func printScan(w io.Writer, rep *scanReport) {
	if len(rep.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tTIME (UTC)\tRULE\tPRINCIPAL\tACTION\tSOURCE IP\tALERT")
		for _, f := range rep.Findings {
			alert := f.AlertID
			if f.NewAlert {
				alert += " (new)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Time.UTC().Format("2006-01-02 15:04:05"), f.RuleID, dash(f.Principal.Name), dash(f.Action), dash(f.SourceIP), dash(alert))
		}
		tw.Flush()
	}
	known, unstored := 0, 0
	for _, f := range rep.Findings {
		switch {
		case f.AlertID == "":
			unstored++
		case !f.NewAlert:
			known++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d events, %d findings", rep.Events, len(rep.Findings))
	if rep.MalformedCount > 0 {
		fmt.Fprintf(&b, ", %d malformed records skipped", rep.MalformedCount)
	}
	fmt.Fprintf(&b, "; %d new alerts", rep.NewAlerts)
	if known > 0 {
		fmt.Fprintf(&b, ", %d findings already alerted", known)
	}
	if unstored > 0 {
		fmt.Fprintf(&b, "; %d findings NOT STORED (see the errors above)", unstored)
	}
	fmt.Fprintln(w, b.String())
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
