package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/trailhound/trailhound/detectors/anomaly"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/athena"
)

const baselineExamples = `  # learn two weeks of every configured source before the first run
  trailhound baseline --config trailhound.yaml --since 14d

  # learn a month of one source
  trailhound baseline --config trailhound.yaml --source prod-cloudtrail --since 30d

  # learn from exported CloudTrail files (.json, .json.gz, JSON Lines)
  trailhound baseline --config trailhound.yaml --since 2026-01-01 ./exports/2026/01
`

// maxMalformedShown caps the malformed records printed by baseline.
const maxMalformedShown = 10

func cmdBaseline(e *env, args []string) int {
	fs := newFlags(e, "baseline", "[flags] [PATH...]", baselineExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	var only stringList
	fs.Var(&only, "source", "learn only from this configured `source` (repeatable)")
	since := fs.String("since", "14d", "learn events from this `time` on: a duration ago (14d, 36h) or a date/RFC 3339 time")
	until := fs.String("until", "", "learn events before this `time` (default: now)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	start, err := parseWhen(*since, time.Now())
	if err != nil {
		return fail(e, "--since: %v", err)
	}
	end, err := parseWhen(*until, time.Now())
	if err != nil {
		return fail(e, "--until: %v", err)
	}
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		return fail(e, "--since must be before --until")
	}
	a, err := loadApp(e, *cfgPath, readWrite)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	var dc detectorsConfig
	if err := a.cfg.Detectors.Decode(&dc); err != nil {
		return fail(e, "%v", err)
	}
	suite, err := newAnomalySuite(a, dc.Anomaly)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer suite.Close()

	srcs, err := a.inputSources(fs.Args(), only)
	if err != nil {
		return fail(e, "%v", err)
	}
	var demoSrcs []sources.Source
	if fs.NArg() == 0 {
		demoSrcs = srcs
	}
	now := a.clock(e, demoSrcs, "--since", *since, "--until", *until)
	start, _ = parseWhen(*since, now)
	end, _ = parseWhen(*until, now)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	w := sources.Window{Start: start, End: end}
	read, malformed := 0, 0
	failed := false
	for _, src := range srcs {
		onMalformed := func(m sources.Malformed) {
			malformed++
			if malformed <= maxMalformedShown {
				fmt.Fprintf(e.stderr, "error: %s\n", m)
			}
		}
		if as, ok := src.(*athena.Source); ok {
			// Athena counts the events: GROUP BY queries, not every row.
			n, err := learnAggregates(ctx, e.stdout, as, w, suite, onMalformed)
			read += n
			if err != nil {
				fmt.Fprintf(e.stderr, "error: source %s: %v\n", src.Name(), err)
				failed = true
			}
			continue
		}
		sink := sources.FuncSink{
			OnEvent: func(ctx context.Context, ev *sources.Event) error {
				read++
				suite.Learn(ev)
				return ctx.Err()
			},
			OnMalformed: onMalformed,
		}
		if _, err := sources.InWindow(src, w).Fetch(ctx, nil, sink); err != nil {
			fmt.Fprintf(e.stderr, "error: source %s: %v\n", src.Name(), err)
			failed = true
		}
	}
	if malformed > maxMalformedShown {
		fmt.Fprintf(e.stderr, "error: %s not shown\n", plural(malformed-maxMalformedShown, "more malformed record"))
	}
	// Only a complete read may claim the whole window as learned; what was
	// learned is kept either way.
	if !failed {
		suite.Covered(start)
	}
	if err := a.db.Update(suite.Save); err != nil {
		return fail(e, "save baseline: %v", err)
	}
	printBaseline(e.stdout, read, malformed, suite.Summary(), start, end)
	if failed {
		return exitError
	}
	return exitOK
}

func printBaseline(w io.Writer, read, malformed int, sum anomaly.Summary, start, end time.Time) {
	window := "all time"
	if !start.IsZero() {
		window = "from " + start.UTC().Format("2006-01-02 15:04")
	}
	if !end.IsZero() {
		window += " to " + end.UTC().Format("2006-01-02 15:04")
	}
	if len(sum.Accounts) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tLEARNED\tALREADY LEARNED\tFIRST (UTC)\tLAST (UTC)\tPRINCIPALS\tREADY")
		for _, acc := range sum.Accounts {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%d\n", dash(acc.Account), acc.Learned, acc.Skipped,
				acc.From.UTC().Format("2006-01-02 15:04"), acc.To.UTC().Format("2006-01-02 15:04"), acc.Principals, acc.Ready)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "%s read (%s), %d learned, %d already learned or repeated", plural(read, "event"), window, sum.Learned, sum.Skipped)
	if malformed > 0 {
		fmt.Fprintf(w, ", %s skipped", plural(malformed, "malformed record"))
	}
	fmt.Fprintf(w, "; %s with a baseline, %d past their learning period\n", plural(sum.Principals, "principal"), sum.Ready)
}
