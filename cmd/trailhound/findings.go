package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/bot/terminal"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
)

const findingsExamples = `  # alerts of the last day
  trailhound findings --since 24h

  # open high and critical alerts of one account
  trailhound findings --severity high --state open --account 123456789012

  # one alert in full: evidence, recommendation and audit trail
  trailhound findings show TH-12
`

func cmdFindings(e *env, args []string) int {
	if len(args) > 0 && args[0] == "show" {
		return cmdFindingsShow(e, args[1:])
	}
	fs := newFlags(e, "findings", "[flags] | show ID", findingsExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	since := fs.String("since", "", "alerts last seen from this `time` on: a duration ago (24h, 7d) or a date")
	sev := fs.String("severity", "info", "minimum `severity`")
	rule := fs.String("rule", "", "only this rule `id`")
	account := fs.String("account", "", "only this AWS account `id`")
	state := fs.String("state", "", "only this `state`: open, new, acknowledged, escalated, resolved, suppressed")
	limit := fs.Int("limit", 100, "show at most `n` alerts (0: all)")
	format := fs.String("format", "text", "output `format`: text or json")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return fail(e, "unexpected argument %q (did you mean \"findings show %s\"?)", fs.Arg(0), fs.Arg(0))
	}
	f := workflows.Filter{RuleID: *rule, Account: *account, Limit: *limit}
	var err error
	if _, err = parseWhen(*since, time.Now()); err != nil {
		return fail(e, "--since: %v", err)
	}
	if f.MinSeverity, err = detectors.ParseSeverity(*sev); err != nil {
		return fail(e, "--severity: %v", err)
	}
	if f.States, err = parseStates(*state); err != nil {
		return fail(e, "--state: %v", err)
	}
	if *limit < 0 {
		return fail(e, "--limit must not be negative")
	}
	a, err := loadApp(e, *cfgPath, readOnly)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	f.Since, _ = parseWhen(*since, a.storedClock(e, "--since", *since))
	f.Limit = 0
	alerts, err := a.alerts.List(f)
	if err != nil {
		return fail(e, "%v", err)
	}
	// Most severe first, then the latest; alerts seen at the same moment
	// by number (TH-4 before TH-10).
	slices.SortStableFunc(alerts, func(x, y workflows.Alert) int {
		if c := cmp.Compare(y.Severity, x.Severity); c != 0 {
			return c
		}
		if c := y.LastSeen.Compare(x.LastSeen); c != 0 {
			return c
		}
		return workflows.CompareIDs(x.ID, y.ID)
	})
	if *limit > 0 && len(alerts) > *limit {
		alerts = alerts[:*limit]
	}
	switch *format {
	case "json":
		if alerts == nil {
			alerts = []workflows.Alert{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(alerts); err != nil {
			return fail(e, "%v", err)
		}
	case "text":
		if len(alerts) == 0 {
			fmt.Fprintln(e.stdout, "no alerts match")
			return exitOK
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ALERT\tSEVERITY\tSTATE\tCOUNT\tLAST SEEN (UTC)\tRULE\tPRINCIPAL\tACCOUNT")
		for _, al := range alerts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", al.ID, al.Severity, al.State, al.Count, al.LastSeen.UTC().Format("2006-01-02 15:04"), al.Finding.RuleID, dash(al.Finding.Principal.Name), dash(al.Finding.Account))
		}
		tw.Flush()
	default:
		return fail(e, "--format must be text or json, not %q", *format)
	}
	return exitOK
}

func parseStates(s string) ([]workflows.State, error) {
	switch s {
	case "":
		return nil, nil
	case "open":
		return []workflows.State{workflows.StateNew, workflows.StateAcknowledged, workflows.StateEscalated}, nil
	}
	var out []workflows.State
	for _, p := range strings.Split(s, ",") {
		st := workflows.State(strings.TrimSpace(p))
		switch st {
		case workflows.StateNew, workflows.StateAcknowledged, workflows.StateEscalated, workflows.StateResolved, workflows.StateSuppressed:
			out = append(out, st)
		default:
			return nil, fmt.Errorf("unknown state %q", p)
		}
	}
	return out, nil
}

func cmdFindingsShow(e *env, args []string) int {
	fs := newFlags(e, "findings show", "[flags] ID", "  trailhound findings show TH-12\n")
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	format := fs.String("format", "text", "output `format`: text or json")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return fail(e, "findings show takes one alert id, e.g. TH-12")
	}
	a, err := loadApp(e, *cfgPath, readOnly)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	id := strings.ToUpper(fs.Arg(0))
	al, err := a.alerts.Get(id)
	if errors.Is(err, workflows.ErrNotFound) {
		return fail(e, "no alert %s", id)
	}
	if err != nil {
		return fail(e, "%v", err)
	}
	audit, err := a.alerts.AuditLog(id)
	if err != nil {
		return fail(e, "%v", err)
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Alert workflows.Alert        `json:"alert"`
			Audit []workflows.AuditEntry `json:"audit"`
		}{al, audit}); err != nil {
			return fail(e, "%v", err)
		}
		return exitOK
	}
	fmt.Fprint(e.stdout, terminal.New(nil, false).Render(bot.CardFor(al)))
	if al.Finding.Description != "" {
		fmt.Fprintf(e.stdout, "About this rule: %s\n\n", al.Finding.Description)
	}
	fmt.Fprintln(e.stdout, "Audit trail:")
	for _, en := range audit {
		line := fmt.Sprintf("  %s  %-14s %s", en.Time.UTC().Format("2006-01-02 15:04:05"), en.Action, en.Actor)
		if en.From != "" || en.To != "" {
			line += fmt.Sprintf("  %s -> %s", dash(en.From), dash(en.To))
		}
		if en.Note != "" {
			line += "  " + en.Note
		}
		fmt.Fprintln(e.stdout, line)
	}
	if len(al.Finding.Evidence) > 0 {
		fmt.Fprintf(e.stdout, "\nEvidence (%d of %d events):\n", len(al.Finding.Evidence), max(al.Finding.EventCount, len(al.Finding.Evidence)))
		for _, ev := range al.Finding.Evidence {
			fmt.Fprintf(e.stdout, "  %s\n", ev)
		}
	}
	return exitOK
}
