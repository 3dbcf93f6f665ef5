package rules_test

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors/rules"
)

// coverageTable is the coverage of the built-in pack: for each row and
// tactic, the rules in the cell.
type coverageTable struct {
	rows  []rules.CoverageRow
	cells map[string]map[string][]string // row -> tactic -> rule ids
	// cross are the rules not tied to named services; untagged those with
	// no tactic tag; unlisted the eventSources rules name that no row
	// lists, with the rules naming them.
	cross    []rules.RuleCoverage
	untagged []string
	unlisted map[string][]string
	off      map[string]bool
	counted  int
}

func buildCoverage(t *testing.T) coverageTable {
	t.Helper()
	rows, err := rules.CoverageRows()
	if err != nil {
		t.Fatal(err)
	}
	defs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].ID < defs[j].ID })
	ct := coverageTable{rows: rows, cells: map[string]map[string][]string{}, unlisted: map[string][]string{}, off: map[string]bool{}}
	for _, r := range rows {
		ct.cells[r.Name] = map[string][]string{}
	}
	for _, d := range defs {
		ct.off[d.ID] = d.Off
		rc := rules.CoverageOf(d, rows)
		for _, s := range rc.Unlisted {
			ct.unlisted[s] = append(ct.unlisted[s], d.ID)
		}
		if len(rc.Tactics) == 0 {
			ct.untagged = append(ct.untagged, d.ID)
			continue
		}
		if rc.CrossService {
			ct.cross = append(ct.cross, rc)
		}
		if len(rc.Rows) > 0 {
			ct.counted++
		}
		for _, row := range rc.Rows {
			for _, tac := range rc.Tactics {
				ct.cells[row][tac] = append(ct.cells[row][tac], d.ID)
			}
		}
	}
	return ct
}

// cellState is how a cell is answered.
type cellState int

const (
	cellUncovered cellState = iota
	cellCovered
	cellNotApplicable
)

func (ct coverageTable) state(r rules.CoverageRow, tactic string) cellState {
	switch {
	case len(ct.cells[r.Name][tactic]) > 0:
		return cellCovered
	case r.NotApplicable[tactic] != "":
		return cellNotApplicable
	}
	return cellUncovered
}

// uncovered lists the applicable cells without a rule, as "row: tactic".
func (ct coverageTable) uncovered() []string {
	var out []string
	for _, r := range ct.rows {
		for _, tac := range rules.Tactics {
			if ct.state(r, tac.Key) == cellUncovered {
				out = append(out, r.Name+": "+tac.Title)
			}
		}
	}
	return out
}

// TestCoverageDoc keeps COVERAGE.md, the table of services by ATT&CK
// tactics, in step with the rules and coverage.yaml; run with -update to
// regenerate it. A reason that a cell does not apply is an error once a
// rule covers the cell, and so is an eventSource no row lists.
func TestCoverageDoc(t *testing.T) {
	ct := buildCoverage(t)
	for _, r := range ct.rows {
		for _, tac := range rules.Tactics {
			if ids := ct.cells[r.Name][tac.Key]; len(ids) > 0 && r.NotApplicable[tac.Key] != "" {
				t.Errorf("coverage.yaml: %s: %s: a reason says the tactic does not apply, but %s cover it; remove the reason (or the rule's tag, if the reason holds)", r.Name, tac.Key, strings.Join(ids, ", "))
			}
		}
	}
	for _, s := range sortedKeys(ct.unlisted) {
		t.Errorf("rules %s name eventSource %s, which no row of coverage.yaml lists; add it to a row", strings.Join(ct.unlisted[s], ", "), s)
	}
	got := ct.markdown()
	if *update {
		if err := os.WriteFile("COVERAGE.md", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("COVERAGE.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("COVERAGE.md is out of date; run go test ./detectors/rules -run TestCoverage -update")
	}
}

// TestCoverageComplete requires every cell of the table to name its rules
// or give a reason it does not apply, and lists the applicable cells that
// no rule covers yet.
func TestCoverageComplete(t *testing.T) {
	ct := buildCoverage(t)
	gaps := ct.uncovered()
	if len(gaps) > 0 {
		t.Errorf("%d applicable cells have no rule (write rules for them, or, only if the tactic truly does not apply, a reason in coverage.yaml):\n  %s", len(gaps), strings.Join(gaps, "\n  "))
	}
	if len(ct.cross) > 0 {
		var ids []string
		for _, rc := range ct.cross {
			ids = append(ids, rc.Rule)
		}
		t.Logf("rules not tied to a service (cross-service): %s", strings.Join(ids, ", "))
	}
	if len(ct.untagged) > 0 {
		t.Logf("rules without a tactic tag, in no column: %s", strings.Join(ct.untagged, ", "))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// anchor is the GitHub anchor of a "### name" heading.
func anchor(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		case c == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func (ct coverageTable) ruleList(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "`" + id + "`"
		if ct.off[id] {
			out[i] += " (off by default)"
		}
	}
	return strings.Join(out, ", ")
}

func (ct coverageTable) markdown() []byte {
	var covered, na, gaps int
	for _, r := range ct.rows {
		for _, tac := range rules.Tactics {
			switch ct.state(r, tac.Key) {
			case cellCovered:
				covered++
			case cellNotApplicable:
				na++
			default:
				gaps++
			}
		}
	}
	var b bytes.Buffer
	b.WriteString("# Coverage of the built-in rules\n\n")
	b.WriteString("Generated from `detectors/rules/builtin/*.yaml` and `detectors/rules/coverage.yaml` by\n")
	b.WriteString("`go test ./detectors/rules -run TestCoverage -update`; do not edit. `TestCoverageComplete` fails while a cell\n")
	b.WriteString("is neither covered nor explained.\n\n")
	b.WriteString("**How to read it.** Rows are AWS services with security-relevant control-plane calls (their eventSources are\n")
	b.WriteString("listed in each row's section); columns are the ATT&CK cloud tactics. Every cell is answered one of three ways:\n\n")
	b.WriteString("- a number: that many rules watch this service for this tactic; the row's section names them;\n")
	b.WriteString("- **n/a**: the tactic cannot be carried out through this service's calls; the row's section says why, in one line;\n")
	b.WriteString("- **gap**: the tactic applies and no rule covers it yet.\n\n")
	b.WriteString("**How rules are placed.** A rule's columns are its tags: `initial-access`, `persistence`, `privilege-escalation`,\n")
	b.WriteString("`defense-evasion`, `credential-access`, `discovery`, `lateral-movement`, `collection` or `exfiltration` (one\n")
	b.WriteString("column), `impact`; other tags (`execution`, `cis-aws-*`, ...) place it in none. Its rows are the eventSources its\n")
	b.WriteString("match requires (equality values of `service` or `eventSource`, through `all` and `any`, not under `not`), and, where\n")
	b.WriteString("rows share an eventSource, the event names (`action`, `eventName`) required beside it: EC2 calls on snapshots,\n")
	b.WriteString("volumes and EBS encryption are EBS. A rule whose match names no eventSource declares what it watches with the\n")
	b.WriteString("rule key `coverage: [iam.amazonaws.com, ...]` (eventSources listed in `coverage.yaml`). A rule that watches the calls\n")
	b.WriteString("of every service alike, such as a burst of enumeration across services, says `coverage: [\"*\"]` and counts in every\n")
	b.WriteString("row; a rule without the key whose match names no eventSource counts in none. Both are listed under\n")
	b.WriteString("[Cross-service](#cross-service). Rules shipped off (`enabled: false`) count, marked so.\n\n")
	fmt.Fprintf(&b, "**Summary.** %d rows × %d tactics = %d cells: %d covered by rules, %d not applicable, %d gaps. %d rules are\n",
		len(ct.rows), len(rules.Tactics), len(ct.rows)*len(rules.Tactics), covered, na, gaps, ct.counted)
	fmt.Fprintf(&b, "counted in cells, %d are cross-service, %d have no tactic tag.\n\n", len(ct.cross), len(ct.untagged))

	b.WriteString("| service |")
	for _, tac := range rules.Tactics {
		fmt.Fprintf(&b, " %s |", tac.Title)
	}
	b.WriteString("\n|---|")
	for range rules.Tactics {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range ct.rows {
		fmt.Fprintf(&b, "| [%s](#%s) |", r.Name, anchor(r.Name))
		for _, tac := range rules.Tactics {
			switch ct.state(r, tac.Key) {
			case cellCovered:
				fmt.Fprintf(&b, " %d |", len(ct.cells[r.Name][tac.Key]))
			case cellNotApplicable:
				b.WriteString(" n/a |")
			default:
				b.WriteString(" **gap** |")
			}
		}
		b.WriteString("\n")
	}

	b.WriteString("\n## Services\n")
	for _, r := range ct.rows {
		fmt.Fprintf(&b, "\n### %s\n\n", r.Name)
		if r.Scope != "" {
			fmt.Fprintf(&b, "%s.", strings.ToUpper(r.Scope[:1])+r.Scope[1:])
			b.WriteString(" ")
		}
		srcs := make([]string, len(r.Sources))
		for i, s := range r.Sources {
			srcs[i] = "`" + s + "`"
		}
		if len(srcs) > 0 {
			fmt.Fprintf(&b, "eventSource: %s", strings.Join(srcs, ", "))
		}
		for _, s := range sortedKeys(r.Events) {
			if len(srcs) > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "`%s` calls named %s", s, "`"+strings.Join(r.Events[s], "`, `")+"`")
		}
		b.WriteString(".\n\n")
		for _, tac := range rules.Tactics {
			switch ct.state(r, tac.Key) {
			case cellCovered:
				fmt.Fprintf(&b, "- %s: %s\n", tac.Title, ct.ruleList(ct.cells[r.Name][tac.Key]))
			case cellNotApplicable:
				fmt.Fprintf(&b, "- %s: n/a — %s\n", tac.Title, strings.TrimSpace(r.NotApplicable[tac.Key]))
			default:
				fmt.Fprintf(&b, "- %s: **gap** — applies, no rule yet\n", tac.Title)
			}
		}
	}

	b.WriteString("\n## Cross-service\n\n")
	b.WriteString("Rules that watch calls of any service (`coverage: [\"*\"]`) or whose match names no eventSource. They are not\n")
	b.WriteString("credited to any row above.\n\n")
	if len(ct.cross) == 0 {
		b.WriteString("None.\n")
	}
	for _, rc := range ct.cross {
		var titles []string
		for _, tac := range rules.Tactics {
			for _, k := range rc.Tactics {
				if k == tac.Key {
					titles = append(titles, tac.Title)
				}
			}
		}
		fmt.Fprintf(&b, "- %s: %s", ct.ruleList([]string{rc.Rule}), strings.Join(titles, ", "))
		if len(rc.Rows) > 0 {
			fmt.Fprintf(&b, " (also in %s)", strings.Join(rc.Rows, ", "))
		}
		b.WriteString("\n")
	}

	b.WriteString("\n## Rules without a tactic\n\n")
	b.WriteString("Rules none of whose tags is a tactic above (compliance monitors, risky settings); they are in no column.\n\n")
	if len(ct.untagged) == 0 {
		b.WriteString("None.\n")
	} else {
		fmt.Fprintf(&b, "%s\n", ct.ruleList(ct.untagged))
	}
	return b.Bytes()
}

const placementRows = `
rows:
  - name: EC2
    sources: [ec2.amazonaws.com, ec2-instance-connect.amazonaws.com]
  - name: EBS
    sources: [ebs.amazonaws.com]
    events:
      ec2.amazonaws.com: ["*Snapshot*", "*Volume*"]
  - name: RDS
    sources: [rds.amazonaws.com]
  - name: IAM
    sources: [iam.amazonaws.com, signin.amazonaws.com]
`

// TestCoverageOf places rules from their tags, eventSources and event
// names.
func TestCoverageOf(t *testing.T) {
	rows, err := rules.ParseCoverageRows([]byte(placementRows))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, rule string
		tactics    string
		rows       string
		cross      bool
		unlisted   string
	}{
		{name: "event names split a shared source",
			rule:    `{tags: [exfiltration, cis-aws-4.1], match: {service: ec2.amazonaws.com, action: [ModifySnapshotAttribute, ModifyImageAttribute]}}`,
			tactics: "[collection-exfiltration]", rows: "[EC2 EBS]"},
		{name: "any pairs each source with its own event names",
			rule:    `{tags: [exfiltration], match: {any: [{service: ec2.amazonaws.com, action: ModifySnapshotAttribute}, {eventSource: rds.amazonaws.com, eventName: ModifyDBSnapshotAttribute}]}}`,
			tactics: "[collection-exfiltration]", rows: "[EBS RDS]"},
		{name: "no event names: every row of the source",
			rule:    `{tags: [discovery], match: {service: ec2.amazonaws.com, read_only: "true"}}`,
			tactics: "[discovery]", rows: "[EC2 EBS]"},
		{name: "wildcard event names: every row of the source",
			rule:    `{tags: [impact], match: {service: ec2.amazonaws.com, action: "Delete*"}}`,
			tactics: "[impact]", rows: "[EC2 EBS]"},
		{name: "values under not are ignored",
			rule:    `{tags: [persistence], match: {service: iam.amazonaws.com, not: {service: ec2.amazonaws.com}}}`,
			tactics: "[persistence]", rows: "[IAM]"},
		{name: "a wildcard source matches listed sources",
			rule:    `{tags: [lateral-movement], match: {service: "ec2*.amazonaws.com", action: SendSSHPublicKey}}`,
			tactics: "[lateral-movement]", rows: "[EC2]"},
		{name: "no source: cross-service",
			rule:    `{tags: [initial-access, privilege-escalation], match: {principal.type: Root}}`,
			tactics: "[initial-access privilege-escalation]", rows: "[]", cross: true},
		{name: "the coverage key names the sources",
			rule:    `{tags: [initial-access], coverage: [signin.amazonaws.com], match: {action: ConsoleLogin}}`,
			tactics: "[initial-access]", rows: "[IAM]"},
		{name: "coverage * is cross-service",
			rule:    `{tags: [discovery], coverage: ["*"], match: {error_code: AccessDenied}}`,
			tactics: "[discovery]", rows: "ALL", cross: true},
		{name: "unlisted source",
			rule:    `{tags: [impact], match: {service: [rds.amazonaws.com, nosuch.amazonaws.com]}}`,
			tactics: "[impact]", rows: "[RDS]", unlisted: "[nosuch.amazonaws.com]"},
		{name: "contradictory branches place nothing",
			rule:    `{tags: [impact], match: {all: [{service: rds.amazonaws.com}, {service: iam.amazonaws.com}]}}`,
			tactics: "[impact]", rows: "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "- {id: r, title: T, severity: low, description: D, recommendation: R, " + strings.TrimPrefix(strings.TrimSuffix(tc.rule, "}"), "{") + "}\n"
			defs, err := rules.Parse([]byte(src), "t.yaml", "test")
			if err != nil {
				t.Fatal(err)
			}
			got := rules.CoverageOf(defs[0], rows)
			if tc.rows == "ALL" {
				var all []string
				for _, r := range rows {
					all = append(all, r.Name)
				}
				tc.rows = fmt.Sprint(all)
			}
			if fmt.Sprint(got.Tactics) != tc.tactics || fmt.Sprint(got.Rows) != tc.rows || got.CrossService != tc.cross {
				t.Errorf("tactics=%v rows=%v cross=%v, want %s %s %v", got.Tactics, got.Rows, got.CrossService, tc.tactics, tc.rows, tc.cross)
			}
			if tc.unlisted != "" && fmt.Sprint(got.Unlisted) != tc.unlisted {
				t.Errorf("unlisted=%v, want %s", got.Unlisted, tc.unlisted)
			}
		})
	}
}

// TestCoverageRowsErrors checks coverage.yaml's own rules.
func TestCoverageRowsErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"source in two rows", "rows: [{name: A, sources: [a.amazonaws.com]}, {name: B, sources: [a.amazonaws.com]}]", `row "B": a.amazonaws.com is already in row "A"`},
		{"unknown tactic", "rows: [{name: A, sources: [a.amazonaws.com], not_applicable: {exfiltration: x}}]", "not_applicable.exfiltration: unknown tactic"},
		{"empty reason", "rows: [{name: A, sources: [a.amazonaws.com], not_applicable: {impact: ''}}]", "the reason must be one non-empty line"},
		{"events of an unlisted source", "rows: [{name: A, sources: [a.amazonaws.com], events: {b.amazonaws.com: ['*']}}]", "no row lists that source"},
		{"unknown key", "rows: [{name: A, source: [a.amazonaws.com]}]", "field source not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rules.ParseCoverageRows([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
		})
	}
}

// TestCoverageKey checks the rule key at load time.
func TestCoverageKey(t *testing.T) {
	base := "- {id: r, title: T, severity: low, description: D, recommendation: R, match: {action: X}, coverage: %s}\n"
	for _, ok := range []string{`[iam.amazonaws.com, signin.amazonaws.com]`, `"*"`, `[sts.amazonaws.com]`} {
		if _, err := rules.Parse([]byte(fmt.Sprintf(base, ok)), "t.yaml", "test"); err != nil {
			t.Errorf("coverage %s: %v", ok, err)
		}
	}
	for _, tc := range []struct{ value, want string }{
		{`[iam.amazonaws.co]`, `t.yaml:1: rule r: coverage[0]: "iam.amazonaws.co" is not an eventSource listed in detectors/rules/coverage.yaml`},
		{`["*", iam.amazonaws.com]`, `coverage[0]: "*" (every service) stands alone`},
		{`{a: b}`, "coverage: must be a string or a list of strings"},
	} {
		_, err := rules.Parse([]byte(fmt.Sprintf(base, tc.value)), "t.yaml", "test")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("coverage %s: err=%v, want %q", tc.value, err, tc.want)
		}
	}
}
