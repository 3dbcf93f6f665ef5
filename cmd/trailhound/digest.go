package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/workflows"
)

const digestExamples = `  # the last week as Markdown, with the findings-per-day chart
  trailhound digest --config trailhound.yaml --since 7d --chart week.png

  # yesterday, machine-readable
  trailhound digest --since 24h --format json
`

func cmdDigest(e *env, args []string) int {
	fs := newFlags(e, "digest", "[flags]", digestExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	since := fs.String("since", "7d", "the `period` to review, ending now (24h, 7d, 30d)")
	until := fs.String("until", "", "end the period at this `time` instead of now (2006-01-02 or RFC 3339)")
	format := fs.String("format", "markdown", "output `format`: markdown, text (as posted in chat) or json")
	chart := fs.String("chart", "", "also write the findings-per-day chart to this PNG `file`")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return fail(e, "unexpected argument %q", fs.Arg(0))
	}
	period, err := configs.ParseDuration(*since)
	if err != nil || period <= 0 {
		return fail(e, "--since: %q is not a duration like 24h or 7d", *since)
	}
	if period > 366*24*time.Hour {
		return fail(e, "--since: a digest covers at most 366d")
	}
	switch *format {
	case "markdown", "text", "json":
	default:
		return fail(e, "--format must be markdown, text or json, not %q", *format)
	}
	a, err := loadApp(e, *cfgPath)
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
	d, err := a.digest(period, end)
	if err != nil {
		return fail(e, "%v", err)
	}
	if *chart != "" {
		png, err := workflows.Chart(d.Days)
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
