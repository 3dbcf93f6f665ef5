package bot

import (
	"testing"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
)

func field(c Card, label string) string {
	for _, f := range c.Fields {
		if f.Label == label {
			return f.Value
		}
	}
	return ""
}

// TestCardAWSConsoleLink: the card of an AWS finding links it in the
// console; an alert of ours that a finding joined links that finding;
// an alert of ours alone has no such line.
func TestCardAWSConsoleLink(t *testing.T) {
	own := workflows.Alert{ID: "TH-1", Finding: detectors.Finding{RuleID: "r", Title: "t"}}
	if got := field(CardFor(own), "AWS console"); got != "" {
		t.Fatalf("own alert link=%q, want none", got)
	}
	gd := own
	gd.Finding.External = &detectors.External{Product: "guardduty", ID: "f1", ConsoleURL: "https://us-east-1.console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=f1"}
	if got := field(CardFor(gd), "AWS console"); got != gd.Finding.External.ConsoleURL {
		t.Fatalf("link=%q, want the finding's", got)
	}
	ec2 := workflows.Alert{ID: "TH-2", Finding: detectors.Finding{RuleID: "guardduty/Backdoor:EC2/C&CActivity.B", Reason: "GuardDuty reports Backdoor:EC2/C&CActivity.B on Instance i-99999999.",
		Account: "123456789012", Region: "us-east-1", Time: gd.Finding.Time, External: &detectors.External{Product: "guardduty", ID: "f2"}}}
	if got, want := CardFor(ec2).Summary, "GuardDuty reports Backdoor:EC2/C&CActivity.B on Instance i-99999999 in account 123456789012 (us-east-1), last seen 0001-01-01 00:00:00 UTC"; got != want {
		t.Fatalf("summary=%q, want %q", got, want)
	}
	folded := own
	folded.External = []detectors.External{{ID: "a", ConsoleURL: "https://a"}, {ID: "b", ConsoleURL: "https://b"}}
	if got := field(CardFor(folded), "AWS console"); got != "https://b" {
		t.Fatalf("link=%q, want the latest folded finding's", got)
	}
}

// TestRepeatWithNote: a repeat that carries a note (an AWS finding's
// update) shows the note in the thread instead of "N more like this".
func TestRepeatWithNote(t *testing.T) {
	a := workflows.Alert{ID: "TH-1", Count: 1}
	m := MessageFor(workflows.Notification{Kind: workflows.NotifyRepeat, Alert: a, Text: "GuardDuty updated finding X: occurrences 3 → 7."})
	if !m.InThread || m.Text != "GuardDuty updated finding X: occurrences 3 → 7." {
		t.Fatalf("message=%+v, want the note in the thread", m)
	}
	if m = MessageFor(workflows.Notification{Kind: workflows.NotifyRepeat, Alert: workflows.Alert{Count: 3}}); m.Text[:17] != "2 more like this " {
		t.Fatalf("plain repeat=%q", m.Text)
	}
}
