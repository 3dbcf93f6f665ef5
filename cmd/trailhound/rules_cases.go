package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/trailhound/trailhound/detectors/rules"
)

// datasetsMissing returns a one-line hint saying where to get the
// evaluation datasets when a path is absent, or "" when both exist.
func datasetsMissing(stratus, invictus string) string {
	var missing []string
	for _, p := range []string{stratus, invictus} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("no evaluation data at %s: get the Stratus Red Team detonation logs (github.com/DataDog/stratus-red-team, docs/detonation-logs/) "+
		"and the Invictus records (github.com/invictus-ir/Sigma-AWS, CloudTrail/), then run trailhound rules eval --stratus DIR --invictus PATH; "+
		"or measure labelled cases with --cases FILE", strings.Join(missing, " and "))
}

// casesTally is a CaseTally in the JSON output.
type casesTally struct {
	Cases               int     `json:"cases"`
	Fired               int     `json:"fired"`
	FiredShare          float64 `json:"fired_share"`
	MediumOrHigher      int     `json:"medium_or_higher"`
	MediumOrHigherShare float64 `json:"medium_or_higher_share"`
}

func tallyJSON(t rules.CaseTally) casesTally {
	return casesTally{Cases: t.Cases, Fired: t.Fired, FiredShare: t.FiredShare(), MediumOrHigher: t.Serious, MediumOrHigherShare: t.SeriousShare()}
}

// caseJSON is a miss or a false firing in the JSON output.
type caseJSON struct {
	Line     int      `json:"line"`
	Name     string   `json:"name,omitempty"`
	Rule     string   `json:"rule,omitempty"`
	Fired    []string `json:"fired,omitempty"`
	Severity string   `json:"severity,omitempty"`
	Reason   string   `json:"reason,omitempty"`
}

type unjudgedJSON struct {
	Line  int    `json:"line"`
	Name  string `json:"name,omitempty"`
	Error string `json:"error"`
}

// casesReport is the JSON document of rules eval --cases.
type casesReport struct {
	File         string         `json:"file"`
	Attacks      casesTally     `json:"attacks"`
	LookAlikes   casesTally     `json:"look_alikes"`
	Unjudged     int            `json:"unjudged"`
	Misses       []caseJSON     `json:"misses"`
	FalseFirings []caseJSON     `json:"false_firings"`
	Unjudgeable  []unjudgedJSON `json:"unjudged_lines"`
}

func outcomesJSON(os []rules.CaseOutcome) []caseJSON {
	out := make([]caseJSON, 0, len(os))
	for _, o := range os {
		c := caseJSON{Line: o.Line, Name: o.Name, Rule: o.Rule, Fired: o.Fired, Reason: o.Reason}
		if len(o.Fired) > 0 {
			c.Severity = o.Severity.String()
		}
		out = append(out, c)
	}
	return out
}

// rulesEvalCases measures the pack on a file of labelled cases. Lines that
// cannot be judged are reported, not fatal; only reading the file or
// building the pack fails the command.
func rulesEvalCases(ctx context.Context, e *env, path, format string, newEngine rules.NewEngine) int {
	f, err := os.Open(path)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer f.Close()
	rep, err := rules.EvalCases(ctx, f, newEngine)
	if err != nil {
		return fail(e, "%s: %v", path, err)
	}
	if format == "json" {
		doc := casesReport{
			File: path, Attacks: tallyJSON(rep.Attacks), LookAlikes: tallyJSON(rep.LookAlikes), Unjudged: len(rep.Unjudged),
			Misses: outcomesJSON(rep.Misses), FalseFirings: outcomesJSON(rep.FalseFirings), Unjudgeable: []unjudgedJSON{},
		}
		for _, u := range rep.Unjudged {
			doc.Unjudgeable = append(doc.Unjudgeable, unjudgedJSON{Line: u.Line, Name: u.Name, Error: u.Err})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fail(e, "write output: %v", err)
		}
		return exitOK
	}
	if len(rep.Misses) > 0 {
		fmt.Fprintf(e.stdout, "Missed attacks (expected, no finding):\n")
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LINE\tCASE\tFOR RULE")
		for _, o := range rep.Misses {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", o.Line, dash(o.Name), dash(o.Rule))
		}
		tw.Flush()
		fmt.Fprintln(e.stdout)
	}
	if len(rep.FalseFirings) > 0 {
		fmt.Fprintf(e.stdout, "False firings (look-alikes with a finding):\n")
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LINE\tCASE\tFOR RULE\tSEVERITY\tFIRED\tREASON")
		for _, o := range rep.FalseFirings {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", o.Line, dash(o.Name), dash(o.Rule), o.Severity, strings.Join(o.Fired, ", "), o.Reason)
		}
		tw.Flush()
		fmt.Fprintln(e.stdout)
	}
	if len(rep.Unjudged) > 0 {
		fmt.Fprintf(e.stdout, "Unjudged lines:\n")
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LINE\tCASE\tPROBLEM")
		for _, u := range rep.Unjudged {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", u.Line, dash(u.Name), u.Err)
		}
		tw.Flush()
		fmt.Fprintln(e.stdout)
	}
	a, l := rep.Attacks, rep.LookAlikes
	fmt.Fprintf(e.stdout, "Labelled cases in %s:\n", path)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  attacks (expected)\t%d cases\t%s with a finding\t%s medium or higher\n", a.Cases, ratio(a.Fired, a.Cases), ratio(a.Serious, a.Cases))
	fmt.Fprintf(tw, "  look-alikes (not expected)\t%d cases\t%s with a finding\t%s medium or higher\n", l.Cases, ratio(l.Fired, l.Cases), ratio(l.Serious, l.Cases))
	tw.Flush()
	fmt.Fprintf(e.stdout, "  unjudged lines: %d\n", len(rep.Unjudged))
	return exitOK
}

// ratio formats n of total as "n (p%)".
func ratio(n, total int) string {
	if total == 0 {
		return fmt.Sprintf("%d (-)", n)
	}
	return fmt.Sprintf("%d (%.1f%%)", n, 100*float64(n)/float64(total))
}
