package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

const sourcesExamples = `  # health of every configured source: one row per account and region
  trailhound sources --config trailhound.yaml

  # as JSON, for monitoring; count a failing source as a problem after 30m
  trailhound sources --config trailhound.yaml --format json --stale 30m
`

// sourceRow is one configured source and its health.
type sourceRow struct {
	Type     string `json:"type"`
	Schedule string `json:"schedule"`
	sources.Health
}

type sourcesReport struct {
	Sources  []sourceRow       `json:"sources"`
	Problems []sources.Problem `json:"problems"`
	// WriteBack is the health of the write-back to AWS, when it is on.
	WriteBack *workflows.WriteBackHealth `json:"writeback,omitempty"`
}

func cmdSources(e *env, args []string) int {
	fs := newFlags(e, "sources", "[flags]", sourcesExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	format := fs.String("format", "text", "output `format`: text or json")
	stale := fs.String("stale", "1h", "count a source whose polls fail as a problem once it has not succeeded for this `duration`")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return fail(e, "unexpected argument %q", fs.Arg(0))
	}
	if *format != "text" && *format != "json" {
		return fail(e, "--format must be text or json, not %q", *format)
	}
	staleFor, err := parseDurationFlag(*stale)
	if err != nil {
		return fail(e, "--stale: %v", err)
	}
	a, err := loadApp(e, *cfgPath, readOnly)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	srcs, err := a.buildSources(nil)
	if err != nil {
		return fail(e, "%v", err)
	}
	health, err := a.srcStore.Health()
	if err != nil {
		return fail(e, "%v", err)
	}
	byName := map[string]sources.Health{}
	for _, h := range health {
		byName[h.Source] = h
	}
	rep := sourcesReport{Sources: []sourceRow{}, Problems: []sources.Problem{}}
	var names []string
	for _, s := range srcs {
		h, ok := byName[s.Name()]
		if !ok {
			h = sources.Health{Source: s.Name()}
		}
		entry := a.entries[s.Name()]
		rep.Sources = append(rep.Sources, sourceRow{Type: entry.Type, Schedule: entry.Schedule, Health: h})
		names = append(names, s.Name())
	}
	if p := sources.Problems(health, names, a.now(), time.Time{}, 0, sources.ProblemLimits{Stale: staleFor}); p != nil {
		rep.Problems = p
	}
	rep.Problems = withConfigProblems(rep.Problems, checkSources(srcs))
	if err := a.writeBackReport(&rep); err != nil {
		return fail(e, "%v", err)
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail(e, "write output: %v", err)
		}
		return exitOK
	}
	printSources(e.stdout, &rep, a.now())
	return exitOK
}

func parseDurationFlag(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration like 30m or 2h", s)
	}
	return d, nil
}

func printSources(w io.Writer, rep *sourcesReport, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tTYPE\tSCHEDULE\tLAST POLL\tLAST SUCCESS\tLAG\tEVENTS\tMALFORMED\tPERMANENT\tLAST ERROR")
	for _, r := range rep.Sources {
		perm := "-"
		if r.Permanent {
			perm = "yes"
		}
		lag := "-"
		if r.Lag > 0 {
			lag = humanDuration(r.Lag)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.Source, r.Type, r.Schedule, ago(r.LastPoll, now), ago(r.LastSuccess, now),
			lag, r.Events, r.Malformed, perm, dash(oneLine(r.LastError, 100)))
	}
	tw.Flush()
	printWriteBack(w, rep.WriteBack, now)
	if len(rep.Problems) == 0 {
		fmt.Fprintf(w, "%s, no problems\n", plural(len(rep.Sources), "source"))
		return
	}
	fmt.Fprintf(w, "%s, %d with problems:\n", plural(len(rep.Sources), "source"), len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  %s: %s\n", p.Kind, p.Summary)
	}
}

// checkSources asks every source that can tell without reading (a file
// source whose path is missing) whether its configuration can work.
func checkSources(srcs []sources.Source) map[string]error {
	out := map[string]error{}
	for _, s := range srcs {
		if c, ok := s.(interface{ Check() error }); ok {
			if err := c.Check(); err != nil {
				out[s.Name()] = err
			}
		}
	}
	return out
}

// withConfigProblems adds a problem for each source whose check failed,
// in place of what its health records say: the configuration is what a
// person must fix first.
func withConfigProblems(ps []sources.Problem, failed map[string]error) []sources.Problem {
	if len(failed) == 0 {
		return ps
	}
	var out []sources.Problem
	for _, name := range sortedKeys(failed) {
		out = append(out, sources.Problem{Source: name, Kind: sources.ProblemPermanent,
			Summary: fmt.Sprintf("Source %s cannot be read until its configuration is fixed: %s.", name, strings.Join(strings.Split(failed[name].Error(), "\n"), "; "))})
	}
	for _, p := range ps {
		if failed[p.Source] == nil {
			out = append(out, p)
		}
	}
	return out
}

// ago formats a time as UTC with how long ago it was, "never" when zero.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format("2006-01-02 15:04:05"), humanDuration(now.Sub(t)))
}

// humanDuration shortens a duration for a person: 45s, 12m, 5h20m, 3d4h,
// 852d.
func humanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + humanDuration(-d)
	}
	d = d.Round(time.Second)
	day := 24 * time.Hour
	switch {
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < day:
		if m := (d % time.Hour) / time.Minute; m > 0 {
			return fmt.Sprintf("%dh%dm", d/time.Hour, m)
		}
		return fmt.Sprintf("%dh", d/time.Hour)
	case d < 30*day:
		if h := (d % day) / time.Hour; h > 0 {
			return fmt.Sprintf("%dd%dh", d/day, h)
		}
		return fmt.Sprintf("%dd", d/day)
	}
	return fmt.Sprintf("%dd", d/day)
}

// oneLine shortens an error to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
