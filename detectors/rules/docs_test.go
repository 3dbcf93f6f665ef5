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

// severityLevels says what each severity asks of the responder.
const severityLevels = `## What each severity asks of you

| severity | what it means | what it asks of the responder | where it goes (demo and example configs) |
|---|---|---|---|
| info | a fact worth keeping: context for other alerts | nothing; it is there when you investigate | the review digest and ` + "`findings`" + ` |
| low | a change worth seeing in the weekly review: routine work usually looks like this (the CIS "any change" monitors are low) | read it in the digest; act only if you do not recognise it | the review digest and ` + "`findings`" + `, not chat |
| medium | a risky change or a likely attack step: worth interrupting a person the same day | confirm with the actor or owner today; open a task if the change stays | chat |
| high | likely compromise, a dangerous exposure (public data, an admin backdoor) or defences turned off | act now: confirm within the hour, contain first if the actor cannot be reached | chat, with escalation |
| critical | an incident in progress | start the incident process | chat, with escalation to the incident room |

`

// lookAlikeDoc says how the rules keep quiet on routine work.
const lookAlikeDoc = `## How rules tell attacks from look-alikes

Every rule has at least one inline test that fires and one that does not; the negatives are the benign
look-alikes of its attack. Rules use these fields to name them:

- ` + "`failed: \"false\"`" + `: only successful calls count where success is what matters;
- ` + "`by_service: \"false\"`" + `: AWS acting on a principal's behalf (` + "`invokedBy`" + `, ` + "`AWS Internal`" + `, service addresses, service-linked roles) is not the principal acting;
- ` + "`deployer`" + `: the organisation's deployment tooling, by role or user name (` + "`detectors.rules.deployment_principals`" + `);
- ` + "`principal.session`" + `: a role session acting on the IAM user of the same person;
- ` + "`mfa`" + `, and ` + "`cidr`" + ` tests for private and link-local networks.

`

func rulesDoc(defs []rules.Definition) []byte {
	var b bytes.Buffer
	b.WriteString("# Built-in rules\n\n")
	b.WriteString("Generated from `detectors/rules/builtin/*.yaml` by `go test ./detectors/rules -run TestRulesDoc -update`; do not edit.\n")
	b.WriteString("Each rule's YAML also holds its inline tests (`trailhound rules test`).\n\n")
	b.WriteString(severityLevels)
	b.WriteString(lookAlikeDoc)
	fmt.Fprintf(&b, "## The rules\n\n%d rules.\n\n", len(defs))
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
