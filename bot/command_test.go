package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    Command
		wantErr string
	}{
		{"", Command{Name: "help"}, ""},
		{"help", Command{Name: "help"}, ""},
		{"findings", Command{Name: "findings"}, ""},
		{"findings since 24h severity high rule aws-root-account-use account 111122223333", Command{Name: "findings", Since: 24 * time.Hour, MinSeverity: detectors.High, RuleID: "aws-root-account-use", Account: "111122223333"}, ""},
		{"findings since=7d state=open", Command{Name: "findings", Since: 7 * 24 * time.Hour, State: "open"}, ""},
		{"FINDINGS SEVERITY Critical", Command{Name: "findings", MinSeverity: detectors.Critical}, ""},
		{"show th-12", Command{Name: "show", ID: "TH-12"}, ""},
		{"acknowledge TH-3", Command{Name: "ack", ID: "TH-3"}, ""},
		{"resolve TH-3 rotated the key", Command{Name: "resolve", ID: "TH-3", Reason: "rotated the key"}, ""},
		{"tasks", Command{Name: "tasks", Scope: "open"}, ""},
		{"tasks overdue", Command{Name: "tasks", Scope: "overdue"}, ""},
		{"task T-3 done revoked it", Command{Name: "task", ID: "T-3", TaskStatus: workflows.TaskDone, Reason: "revoked it"}, ""},
		{"task t-3 in-progress", Command{Name: "task", ID: "T-3", TaskStatus: workflows.TaskInProgress}, ""},
		{"silence aws-console-login-failures 2h pen test this afternoon", Command{Name: "silence", RuleID: "aws-console-login-failures", Duration: 2 * time.Hour, Reason: "pen test this afternoon"}, ""},
		{"unsilence s-4", Command{Name: "unsilence", ID: "S-4"}, ""},
		{"silence principal=arn:aws:iam::111122223333:user/ci account=111122223333 4h nightly deploy", Command{Name: "silence", Principal: "arn:aws:iam::111122223333:user/ci", Account: "111122223333", Duration: 4 * time.Hour, Reason: "nightly deploy"}, ""},
		{"silence alert=th-12 1d known scanner", Command{Name: "silence", ID: "TH-12", Duration: 24 * time.Hour, Reason: "known scanner"}, ""},
		{"silence rule=r1 principal=bob* 2h", Command{Name: "silence", RuleID: "r1", Principal: "bob*", Duration: 2 * time.Hour}, ""},
		{"digest since 1d", Command{Name: "digest", Since: 24 * time.Hour}, ""},

		{"frobnicate", Command{}, `unknown command "frobnicate". Usage: /trailhound help`},
		{"findings since", Command{}, `"since" needs a value`},
		{"findings since forever", Command{}, `"forever" is not a duration like 24h or 7d`},
		{"findings since 400d", Command{}, "since is at most 366d"},
		{"findings severity urgent", Command{}, `unknown severity "urgent"`},
		{"findings account 12345", Command{}, `"12345" is not a 12-digit AWS account id`},
		{"findings colour red", Command{}, `unknown filter "colour". Usage: /trailhound findings`},
		{"findings rule <script>", Command{}, `"<script>" is not a rule id`},
		{"show", Command{}, "give an alert id, e.g. TH-12. Usage: /trailhound show ALERT-ID"},
		{"show 12", Command{}, `"12" is not an alert id (like TH-12)`},
		{"show TH-1 extra", Command{}, `unexpected "extra"`},
		{"ack TH-", Command{}, `"TH-" is not an alert id`},
		{"tasks everybody", Command{}, `unknown selection "everybody"`},
		{"task T-1 finished", Command{}, `unknown task status "finished"`},
		{"silence r1", Command{}, "give what to silence and a duration"},
		{"silence principal=alice", Command{}, "give what to silence and a duration"},
		{"silence colour=red 2h", Command{}, `unknown selector "colour"`},
		{"silence principal=al<ice 2h", Command{}, `is not a principal name or ARN`},
		{"silence account=12 2h", Command{}, `"12" is not a 12-digit AWS account id`},
		{"silence alert=12 2h", Command{}, `"12" is not an alert id`},
		{"silence r1 0s", Command{}, `"0s" is not a duration like 2h or 7d`},
		{"silence r1 120d", Command{}, "a silence lasts at most 90 days"},
		{"digest severity high", Command{}, "digest only takes since"},
		{"help me", Command{}, "help takes no arguments"},
		{"show TH-1\x00", Command{}, "command contains control characters"},
		{strings.Repeat("a", MaxCommandLength+1), Command{}, "command is longer than 1000 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCommand(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !IsUsage(err) {
					t.Fatalf("err=%v, want a usage error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseActionID(t *testing.T) {
	op, id, err := ParseActionID(ActionID(OpEscalate, "TH-7"))
	if err != nil || op != OpEscalate || id != "TH-7" {
		t.Fatalf("round trip: %v %v %v", op, id, err)
	}
	for _, bad := range []string{"", "trailhound:", "trailhound:ack", "trailhound:ack:7", "trailhound:nuke:TH-1", "other:ack:TH-1", "trailhound:ack:TH-1:x"} {
		if _, _, err := ParseActionID(bad); err == nil {
			t.Errorf("ParseActionID(%q) accepted", bad)
		}
	}
}

func TestPolicy(t *testing.T) {
	p := Policy{Analysts: []string{"U1", "S-sec"}, Responders: []string{"R-devops"}, Viewers: []string{"*"}}
	tests := []struct {
		id   Identity
		want Role
	}{
		{Identity{UserID: "U1"}, Analyst},
		{Identity{UserID: "U2", Groups: []string{"S-sec"}}, Analyst},
		{Identity{UserID: "U3", Groups: []string{"R-devops"}}, Responder},
		{Identity{UserID: "U4"}, Viewer},
	}
	for _, tc := range tests {
		if got := p.RoleOf(tc.id); got != tc.want {
			t.Errorf("RoleOf(%+v)=%v, want %v", tc.id, got, tc.want)
		}
	}
	if got := (Policy{}).RoleOf(Identity{UserID: "U1"}); got != NoRole {
		t.Errorf("empty policy gives %v, want none", got)
	}
	if _, err := ParseRole("admin"); err == nil {
		t.Error("ParseRole(admin) accepted")
	}
}
