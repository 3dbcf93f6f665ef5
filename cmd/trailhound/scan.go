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

Findings are printed as they are stored, a batch at a time, and not kept:
memory stays flat however many there are. The text table is aligned within
each batch. --format json writes one JSON object whose "findings" array is
streamed, one finding a line, and whose summary fields (events, counts,
malformed records, errors) follow the array.
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

// scanReport is the summary of a scan: counts, not findings, which are
// written as they are stored.
type scanReport struct {
	Events    int                 `json:"events"`
	Malformed []sources.Malformed `json:"malformed"`
	// MalformedCount may exceed len(Malformed), which is capped.
	MalformedCount int `json:"malformed_count"`
	// FindingCount counts the findings, stored or not.
	FindingCount int `json:"finding_count"`
	NewAlerts    int `json:"new_alerts"`
	// Known counts the findings that joined an alert from before the scan.
	Known int `json:"already_alerted"`
	// Unstored counts the findings that could not be stored.
	Unstored int `json:"unstored"`
	// SkippedFiles are files found in directories and not read, because
	// their names are not those of log files.
	SkippedFiles []string `json:"skipped_files"`
	// Errors are the sources that could not be read (a missing path, a
	// denied API call), one sentence each.
	Errors []string `json:"errors"`
	// worst is the highest severity found, -1 without findings.
	worst detectors.Severity
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
	rep := scanReport{Malformed: []sources.Malformed{}, SkippedFiles: []string{}, Errors: []string{}, worst: -1}
	out := &scanPrinter{w: e.stdout, json: *format == "json"}
	out.begin()
	failed := false
	for _, src := range srcs {
		if !start.IsZero() || !end.IsZero() {
			src = sources.InWindow(src, sources.Window{Start: start, End: end})
		}
		// The scan reports malformed records itself, on stderr and in its
		// summary; the log would say each one a second time.
		job := &workflows.Job{Source: src, Detectors: a.engine, Alerts: a.alerts, Sources: a.srcStore, Log: withoutMalformed(a.log)}
		// Findings are written as each batch commits, and only counted
		// afterwards: a scan of any size holds one batch of them.
		fresh := map[string]bool{} // alerts this source's job created
		stored := 0
		job.OnStored = func(fs []detectors.Finding, ing workflows.IngestResult) {
			rep.NewAlerts += len(ing.New)
			for _, al := range ing.New {
				fresh[al.ID] = true
			}
			for i, id := range a.alerts.AlertIDs(fs) {
				out.finding(resolve(&rep, fs[i], id, fresh))
			}
			stored += len(fs)
			out.flush()
		}
		res, err := job.Run(ctx)
		if res != nil {
			rep.Events += res.Events
			rep.MalformedCount += res.MalformedCount
			rep.Malformed = append(rep.Malformed, res.Malformed...)
			// Found but never handed over: their batch did not commit.
			rep.FindingCount += res.FindingCount - stored
			rep.Unstored += res.FindingCount - stored
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
	if err := out.end(&rep); err != nil {
		return fail(e, "write output: %v", err)
	}
	switch {
	case failed:
		return exitError
	case *failOn != "" && rep.FindingCount > 0 && rep.worst >= threshold:
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

// resolve counts a stored finding in the report and names the alert it
// joined, alertID ("" when it was not stored).
func resolve(rep *scanReport, f detectors.Finding, alertID string, fresh map[string]bool) scanFinding {
	sf := scanFinding{Finding: f, AlertID: alertID, NewAlert: alertID != "" && fresh[alertID]}
	rep.FindingCount++
	switch {
	case sf.AlertID == "":
		rep.Unstored++
	case !sf.NewAlert:
		rep.Known++
	}
	if f.Severity > rep.worst {
		rep.worst = f.Severity
	}
	return sf
}

// scanPrinter writes the findings of a scan as they come and the summary
// at the end: a table then a summary line, or one JSON object whose
// "findings" array is streamed a finding a line.
type scanPrinter struct {
	w    io.Writer
	json bool
	tw   *tabwriter.Writer
	n    int   // findings written
	err  error // the first write error
}

func (p *scanPrinter) write(s string) {
	if p.err == nil {
		_, p.err = io.WriteString(p.w, s)
	}
}

func (p *scanPrinter) begin() {
	if p.json {
		p.write("{\n  \"findings\": [")
	}
}

func (p *scanPrinter) finding(f scanFinding) {
	if p.json {
		b, err := json.Marshal(f)
		if err != nil && p.err == nil {
			p.err = err
		}
		sep := ",\n    "
		if p.n == 0 {
			sep = "\n    "
		}
		p.write(sep + string(b))
		p.n++
		return
	}
	if p.tw == nil {
		p.tw = tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(p.tw, "SEVERITY\tTIME (UTC)\tRULE\tPRINCIPAL\tACTION\tSOURCE IP\tALERT")
	}
	alert := f.AlertID
	if f.NewAlert {
		alert += " (new)"
	}
	fmt.Fprintf(p.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Time.UTC().Format("2006-01-02 15:04:05"), f.RuleID, dash(f.Principal.Name), dash(f.Action), dash(f.SourceIP), dash(alert))
	p.n++
}

// flush writes out the findings of a batch.
func (p *scanPrinter) flush() {
	if p.tw != nil {
		if err := p.tw.Flush(); err != nil && p.err == nil {
			p.err = err
		}
	}
}

// end writes the summary and returns the first write error.
func (p *scanPrinter) end(rep *scanReport) error {
	p.flush()
	if !p.json {
		printScan(p.w, rep)
		return p.err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if p.n > 0 {
		p.write("\n  ")
	}
	// The summary's fields follow the array inside the same object.
	p.write("]," + string(b[1:]) + "\n")
	return p.err
}

// printScan writes the summary line of a text scan.
func printScan(w io.Writer, rep *scanReport) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s", plural(rep.Events, "event"), plural(rep.FindingCount, "finding"))
	if rep.MalformedCount > 0 {
		fmt.Fprintf(&b, ", %s skipped", plural(rep.MalformedCount, "malformed record"))
	}
	if n := len(rep.SkippedFiles); n > 0 {
		fmt.Fprintf(&b, ", %s not read (not named as logs; -v lists them)", plural(n, "file"))
	}
	fmt.Fprintf(&b, "; %s", plural(rep.NewAlerts, "new alert"))
	if rep.Known > 0 {
		fmt.Fprintf(&b, ", %s already alerted", plural(rep.Known, "finding"))
	}
	if rep.Unstored > 0 {
		fmt.Fprintf(&b, "; %s NOT STORED (see the errors above)", plural(rep.Unstored, "finding"))
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
