package rules_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors/rules"
)

var update = flag.Bool("update", false, "rewrite RULES.md from the built-in pack")

// TestRulesDoc keeps RULES.md, the reference of the built-in pack, in step
// with the rules; run with -update to regenerate it.
func TestRulesDoc(t *testing.T) {
	defs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	got := rulesDoc(defs)
	if *update {
		if err := os.WriteFile("RULES.md", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("RULES.md is out of date; run go test ./detectors/rules -run TestRulesDoc -update")
	}
}

// TestREADMEListsEveryRule checks the README's table of built-in rules.
func TestREADMEListsEveryRule(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Skipf("README.md: %v", err)
	}
	defs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if !bytes.Contains(readme, []byte("| `"+d.ID+"` |")) {
			t.Errorf("README.md does not list %s", d.ID)
		}
	}
}

func rulesDoc(defs []rules.Definition) []byte {
	var b bytes.Buffer
	b.WriteString("# Built-in rules\n\n")
	b.WriteString("Generated from `detectors/rules/builtin/*.yaml` by `go test ./detectors/rules -run TestRulesDoc -update`; do not edit.\n")
	b.WriteString("Each rule's YAML also holds its inline tests (`trailhound rules test`).\n\n")
	b.WriteString("| id | severity | ATT&CK | kind | file | title |\n|---|---|---|---|---|---|\n")
	for _, d := range defs {
		kind := "event"
		if d.Threshold != nil {
			kind = "threshold: " + d.Threshold.String()
		}
		if d.Off {
			kind += " (off by default)"
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s | %s | %s |\n", d.ID, d.ID, d.Severity, d.Technique, kind, filepath.Base(d.File), d.Title)
	}
	for _, d := range defs {
		fmt.Fprintf(&b, "\n## %s\n\n**%s** — %s", d.ID, d.Title, d.Severity)
		if len(d.SeverityIf) > 0 {
			b.WriteString(" (raised or lowered by conditions in the rule)")
		}
		fmt.Fprintf(&b, ", [%s](https://attack.mitre.org/techniques/%s/)", d.Technique, strings.ReplaceAll(d.Technique, ".", "/"))
		if len(d.Tags) > 0 {
			fmt.Fprintf(&b, ", tags: %s", strings.Join(d.Tags, ", "))
		}
		b.WriteString("\n\n")
		fmt.Fprintf(&b, "%s\n\n", d.Description)
		fmt.Fprintf(&b, "*What to do:* %s\n\n", d.Recommendation)
		fmt.Fprintf(&b, "*Reason shown:* `%s`\n", d.Reason)
		if t := d.Threshold; t != nil {
			fmt.Fprintf(&b, "\n*Threshold:* %s.\n", t)
		}
		if len(d.SupersededBy) > 0 {
			fmt.Fprintf(&b, "\n*Stays silent when* %s fires on the same event.\n", strings.Join(d.SupersededBy, " or "))
		}
	}
	return b.Bytes()
}
