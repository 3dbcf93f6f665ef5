package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/trailhound/trailhound/workflows"
)

const digestExamples = `  # the last week as Markdown, with the findings-per-day chart
  trailhound digest --config trailhound.yaml --since 7d --chart week.png

  # yesterday, machine-readable
  trailhound digest --since 24h --format json

  # November 2026
  trailhound digest --since 2026-11-01 --until 2026-12-01
`

func cmdDigest(e *env, args []string) int {
	fs := newFlags(e, "digest", "[flags]", digestExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	since := fs.String("since", "7d", "the `period` to review: a duration ending now (24h, 7d, 30d) or a start date (2006-01-02 or RFC 3339)")
	until := fs.String("until", "", "end the period at this `time` instead of now (2006-01-02 or RFC 3339)")
	format := fs.String("format", "markdown", "output `format`: markdown, text (as posted in chat) or json")
	chart := fs.String("chart", "", "also write the findings-per-day chart to this PNG `file`")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return fail(e, "unexpected argument %q", fs.Arg(0))
	}
	if _, err := parseWhen(*since, time.Now()); err != nil || *since == "" {
		return fail(e, "--since: %q is neither a duration like 24h or 7d nor a date (2006-01-02 or RFC 3339)", *since)
	}
	switch *format {
	case "markdown", "text", "json":
	default:
		return fail(e, "--format must be markdown, text or json, not %q", *format)
	}
	a, err := loadApp(e, *cfgPath, readOnly)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	end := a.now().UTC()
	if *until != "" {
		if end, err = parseWhen(*until, end); err != nil {
			return fail(e, "--until: %v", err)
		}
	}
	start, _ := parseWhen(*since, end)
	period := end.Sub(start)
	switch {
	case period <= 0:
		return fail(e, "--since: %s is not before the end of the period, %s", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	case period > 366*24*time.Hour:
		return fail(e, "--since: a digest covers at most 366d")
	}
	d, err := a.digest(period, end)
	if err != nil {
		return fail(e, "%v", err)
	}
	if *chart != "" {
		png, err := workflows.Chart(&d)
		if err != nil {
			return fail(e, "%v", err)
		}
		if err := os.WriteFile(*chart, png, 0o644); err != nil {
			return fail(e, "--chart: %v", err)
		}
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return fail(e, "%v", err)
		}
	case "text":
		fmt.Fprint(e.stdout, d.Text())
	default:
		fmt.Fprint(e.stdout, d.Markdown())
	}
	return exitOK
}
