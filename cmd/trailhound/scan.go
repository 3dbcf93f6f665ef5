package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/file"
	"github.com/trailhound/trailhound/workflows"
)

const scanExamples = `  # scan the bundled sample logs with the embedded demo config
  trailhound scan

  # scan files and directories (CloudTrail .json/.json.gz, JSON Lines, CloudWatch
  # exports); a file named here is read whatever its name, -v names the files
  # skipped inside directories
  trailhound scan -v ./logs/2026/11/24 ct-export extra.jsonl.gz

  # scan the last day of one configured source; exit 3 on high or critical findings
  # (without --fail-on, findings exit 0)
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
	// SkippedFiles are files found in directories and not read, because
	// their names are not those of log files.
	SkippedFiles []string `json:"skipped_files"`
	// Errors are the sources that could not be read (a missing path, a
	// denied API call), one sentence each.
	Errors []string `json:"errors"`
}

func cmdScan(e *env, args []string) int {
	fs := newFlags(e, "scan", "[flags] [PATH...]", scanExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	var only stringList
	fs.Var(&only, "source", "scan only this configured `source` (repeatable)")
	since := fs.String("since", "", "read events from this `time` on: a duration ago (24h, 7d) or a date/RFC 3339 time")
	until := fs.String("until", "", "read events before this `time`")
	failOn := fs.String("fail-on", "", "exit 3 when a finding has at least this `severity` (info, low, medium, high, critical); without it, findings exit 0")
	format := fs.String("format", "text", "output `format`: text or json")
	noNotify := fs.Bool("no-notify", false, "store alerts but post nothing to chat or terminal")
	verbose := fs.Bool("v", false, "name the files skipped in directories")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	threshold := detectors.Severity(-1)
	if *failOn != "" {
		var err error
		if threshold, err = detectors.ParseSeverity(*failOn); err != nil {
			return fail(e, "--fail-on: %v", err)
		}
	}
	if *format != "text" && *format != "json" {
		return fail(e, "--format must be text or json, not %q", *format)
	}
	if _, err := parseWhen(*since, time.Now()); err != nil {
		return fail(e, "--since: %v", err)
	}
	if _, err := parseWhen(*until, time.Now()); err != nil {
		return fail(e, "--until: %v", err)
	}
	a, err := loadApp(e, *cfgPath, readWrite)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()

	srcs, err := a.inputSources(fs.Args(), only)
	if err != nil {
		return fail(e, "%v", err)
	}
	var demoSrcs []sources.Source
	if fs.NArg() == 0 {
		demoSrcs = srcs
	}
	now := a.clock(e, demoSrcs, "--since", *since, "--until", *until)
	start, _ := parseWhen(*since, now)
	end, _ := parseWhen(*until, now)

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
	rep := scanReport{Malformed: []sources.Malformed{}, Findings: []scanFinding{}, SkippedFiles: []string{}, Errors: []string{}}
	failed := false
	for _, src := range srcs {
		if !start.IsZero() || !end.IsZero() {
			src = sources.InWindow(src, sources.Window{Start: start, End: end})
		}
		// The scan reports malformed records itself, on stderr and in its
		// summary; the log would say each one a second time.
		job := &workflows.Job{Source: src, Detectors: a.engine, Alerts: a.alerts, Sources: a.srcStore, Log: withoutMalformed(a.log)}
		res, err := job.Run(ctx)
		if res != nil {
			collect(a, &rep, res)
		}
		if sk, ok := src.(interface{ Skipped() []string }); ok {
			rep.SkippedFiles = append(rep.SkippedFiles, sk.Skipped()...)
		}
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
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
		fmt.Fprintf(e.stderr, "error: %s not shown\n", plural(rep.MalformedCount-len(rep.Malformed), "more malformed record"))
	}
	if *verbose {
		for _, f := range rep.SkippedFiles {
			fmt.Fprintf(e.stderr, "skipped: %s (not a log file name: %s, optionally .gz; name the file to read it anyway)\n", f, strings.Join(file.LogExtensions, ", "))
		}
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
	case *failOn != "" && hasAtLeast(rep.Findings, threshold):
		return exitFindings
	}
	return exitOK
}

// withoutMalformed returns a logger that leaves out the job's
// "malformed record" warnings, for commands that print them themselves.
func withoutMalformed(l *slog.Logger) *slog.Logger {
	return slog.New(dropMessage{l.Handler(), "malformed record"})
}

// dropMessage is a slog.Handler that drops the records with one message.
type dropMessage struct {
	slog.Handler
	msg string
}

func (d dropMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == d.msg {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

func (d dropMessage) WithAttrs(as []slog.Attr) slog.Handler {
	return dropMessage{d.Handler.WithAttrs(as), d.msg}
}

func (d dropMessage) WithGroup(name string) slog.Handler {
	return dropMessage{d.Handler.WithGroup(name), d.msg}
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
	fmt.Fprintf(&b, "%s, %s", plural(rep.Events, "event"), plural(len(rep.Findings), "finding"))
	if rep.MalformedCount > 0 {
		fmt.Fprintf(&b, ", %s skipped", plural(rep.MalformedCount, "malformed record"))
	}
	if n := len(rep.SkippedFiles); n > 0 {
		fmt.Fprintf(&b, ", %s not read (not named as logs; -v lists them)", plural(n, "file"))
	}
	fmt.Fprintf(&b, "; %s", plural(rep.NewAlerts, "new alert"))
	if known > 0 {
		fmt.Fprintf(&b, ", %s already alerted", plural(known, "finding"))
	}
	if unstored > 0 {
		fmt.Fprintf(&b, "; %s NOT STORED (see the errors above)", plural(unstored, "finding"))
	}
	if n := len(rep.Errors); n > 0 {
		fmt.Fprintf(&b, "; %s could not be read (see the errors above)", plural(n, "source"))
	}
	fmt.Fprintln(w, b.String())
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
