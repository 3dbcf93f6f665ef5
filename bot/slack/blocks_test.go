package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testNow = time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)

// testFinding is a real finding: the console-login-without-MFA detector's
// output for the Stratus Red Team detonation in
// configs/samples/stratus-console-login-without-mfa.json (DataDog
// stratus-red-team, Apache-2.0), frozen in testdata.
func testFinding(t testing.TB) detectors.Finding {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "finding-console-no-mfa.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f detectors.Finding
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func testAlert(t testing.TB) workflows.Alert {
	f := testFinding(t)
	return workflows.Alert{
		ID: "TH-7", State: workflows.StateNew, Severity: f.Severity, Finding: f, Count: 1,
		FirstSeen: f.Time, LastSeen: f.Time, CreatedAt: testNow, UpdatedAt: testNow,
	}
}

// golden compares v, as indented JSON, with testdata/name.golden.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	// slack-go's marshalers escape HTML; undo it so the files read well.
	got := []byte(strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">").Replace(buf.String()))
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file (go test -update rewrites it):\n%s", path, got)
	}
}

func TestCardPayloadGolden(t *testing.T) {
	acked := testAlert(t)
	acked.State, acked.LastActor, acked.LastAction = workflows.StateAcknowledged, "slack:U0ALICE", workflows.ActionAcknowledge
	grouped := testAlert(t)
	grouped.Count, grouped.LastSeen = 13, grouped.LastSeen.Add(3*time.Hour)
	resolved := testAlert(t)
	resolved.State, resolved.Resolution, resolved.LastActor = workflows.StateResolved, "false_positive", "slack:U0BOB"

	// A hostile log event: Slack markup in principal, user agent and
	// reason must not ping anyone or forge links.
	hostile := testAlert(t)
	hostile.Severity = detectors.Critical
	hostile.Finding.Principal.Name = "<!channel> eve"
	hostile.Finding.Principal.ARN = "arn:aws:iam::1:user/<!here>"
	hostile.Finding.UserAgent = "<https://evil.example|click me> & <@U0ADMIN>"
	hostile.Finding.Reason = "eve said <!everyone>"
	hostile.Finding.Region = "us-east-1/../../evil"

	for _, tc := range []struct {
		name  string
		alert workflows.Alert
		intro string
		tmpl  string
	}{
		{"card-new", testAlert(t), "", DefaultRawEventURL},
		{"card-acknowledged", acked, "", DefaultRawEventURL},
		{"card-grouped", grouped, "", ""},
		{"card-false-positive", resolved, "", DefaultRawEventURL},
		{"card-hostile", hostile, "Escalated: <@U0ONCALL>", DefaultRawEventURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, CardPayload(bot.CardFor(tc.alert), tc.intro, tc.tmpl))
		})
	}
}

func TestCardPayloadEscapes(t *testing.T) {
	a := testAlert(t)
	a.Finding.Principal.Name = "<!channel>"
	a.Finding.UserAgent = "<https://evil.example|x>"
	b, err := json.Marshal(CardPayload(bot.CardFor(a), "", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<!channel>", "<https://evil"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("payload contains %q unescaped", bad)
		}
	}
}

func TestCardPayloadButtons(t *testing.T) {
	p := CardPayload(bot.CardFor(testAlert(t)), "", "")
	b, _ := json.Marshal(p)
	for _, op := range []bot.Op{bot.OpAcknowledge, bot.OpEscalate, bot.OpTask, bot.OpSuppress, bot.OpResolve, bot.OpFalsePositive} {
		if id := bot.ActionID(op, "TH-7"); !strings.Contains(string(b), `"action_id":"`+id+`"`) {
			t.Errorf("no button with action_id %s", id)
		}
	}
}

func TestMessagePayloadGolden(t *testing.T) {
	a := testAlert(t)
	a.Count = 13
	repeat := bot.MessageFor(workflows.Notification{Kind: workflows.NotifyRepeat, Alert: a})
	golden(t, "message-repeat", MessagePayload(repeat, DefaultRawEventURL))

	esc := bot.MessageFor(workflows.Notification{Kind: workflows.NotifyEscalate, Alert: a, Mentions: []string{"S0ONCALL", "U0BOB", "discord:123", "<!channel>"}})
	golden(t, "message-escalate", MessagePayload(esc, ""))

	ask := bot.Message{Text: "Was this you? <!here>", Buttons: []bot.Button{{Op: bot.OpResolve, Label: "Yes, it was me"}}, AlertID: "TH-7"}
	golden(t, "message-ask", MessagePayload(ask, ""))
}

func TestModalsGolden(t *testing.T) {
	meta := modalMeta{AlertID: "TH-7", Channel: "C0SECURITY", TS: "1767225601.000001"}
	golden(t, "modal-task", TaskModal("[MEDIUM] Console sign-in without MFA", meta, testNow))
	golden(t, "modal-suppress", SuppressModal("[MEDIUM] Console sign-in <b>", meta))
}

func TestReplyAndUsagePayload(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  Payload
		want string
	}{
		{"actor as mention", ReplyPayload(bot.Reply{Text: "slack:U0ALICE set task `T-1` to done.", Actors: []string{"slack:U0ALICE"}}, ""), "<@U0ALICE> set task `T-1` to done."},
		{"only actors as mentions", ReplyPayload(bot.Reply{Text: "`TH-7` is now acknowledged by slack:U0ALICE (principal slack:U0BOSS <@U0CISO>).", Actors: []string{"slack:U0ALICE"}}, ""),
			"`TH-7` is now acknowledged by <@U0ALICE> (principal slack:U0BOSS &lt;@U0CISO&gt;)."},
		{"bare broadcast broken", ReplyPayload(bot.Reply{Text: "reason: @channel @Here"}, ""), "reason: @\u2060channel @\u2060Here"},
		{"broadcast escaped", ReplyPayload(bot.Reply{Text: "silenced: <!channel> & co"}, ""), "silenced: &lt;!channel&gt; &amp; co"},
		{"usage", UsagePayload(&bot.UsageError{Msg: `unknown command "x"`, Usage: "/trailhound help"}), "unknown command \"x\". Usage: `/trailhound help`"},
		{"other error", UsagePayload(errors.New("a <b>")), "a &lt;b&gt;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.Text != tc.want {
				t.Fatalf("text=%q, want %q", tc.got.Text, tc.want)
			}
		})
	}
}
