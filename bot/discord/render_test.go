package discord

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

var testRenderer = renderer{rawEventURL: DefaultRawEventURL}

// stratusAlert is the alert of the real Stratus finding, as stored.
func stratusAlert(t *testing.T) workflows.Alert {
	t.Helper()
	f := stratusFinding(t)
	return workflows.Alert{ID: "TH-7", State: workflows.StateNew, Severity: f.Severity, Finding: f, Count: 1,
		FirstSeen: f.Time, LastSeen: f.Time, CreatedAt: now, UpdatedAt: now}
}

func TestRenderGolden(t *testing.T) {
	a := stratusAlert(t)

	acked := a
	acked.State, acked.LastActor, acked.LastAction = workflows.StateAcknowledged, "discord:"+responderUser, workflows.ActionAcknowledge
	acked.Count, acked.LastSeen = 13, a.LastSeen.Add(3*time.Hour)
	ackedCard := bot.CardFor(acked).WithTasks([]workflows.Task{{ID: "T-1", Status: workflows.TaskOpen, Title: "Fix: " + a.Finding.Title, Assignee: "discord:" + assigneeUser, Due: now.Add(-time.Hour)}}, now)

	fp := a
	fp.State, fp.Resolution, fp.LastActor = workflows.StateResolved, "false_positive", "discord:"+analystUser

	hostile := a
	hostile.Finding.Principal = sources.Principal{Name: "[Verify your account](https://evil.example/login) @everyone <@140000000000000001>"}
	hostile.Finding.UserAgent = "**bold** `code` ~~strike~~ ||spoiler|| > quote\n# heading\n- list"
	hostile.Finding.Reason = "<@&150000000000000003> _ping_ the analysts"

	tests := []struct {
		name string
		got  any
	}{
		{"card-new", testRenderer.messageSend(bot.MessageFor(workflows.Notification{Kind: workflows.NotifyNew, Alert: a}))},
		{"card-acknowledged-edit", testRenderer.cardEdit(ackedCard, testChannel, "1600000000000000001")},
		{"card-false-positive-edit", testRenderer.cardEdit(bot.CardFor(fp), testChannel, "1600000000000000001")},
		{"card-hostile", testRenderer.messageSend(bot.MessageFor(workflows.Notification{Kind: workflows.NotifyNew, Alert: hostile}))},
		{"escalate-mentions", testRenderer.messageSend(bot.MessageFor(workflows.Notification{Kind: workflows.NotifyEscalate, Alert: acked,
			Mentions: []string{"role:" + analystRole, assigneeUser, "<@!" + responderUser + ">", "@here", "slack:U024BE7LH", "<!subteam^S123>"}}))},
		{"repeat-text", testRenderer.messageSend(bot.MessageFor(workflows.Notification{Kind: workflows.NotifyRepeat, Alert: acked}))},
		{"ask-actor-buttons", testRenderer.messageSend(bot.Message{Text: "Was this you? `TH-7`: console login without MFA.", AlertID: "TH-7",
			Buttons: []bot.Button{{Op: bot.OpAcknowledge, Label: "Yes, it was me", Style: "primary"}, {Op: bot.OpEscalate, Label: "No, escalate", Style: "danger"}}})},
		{"digest-long", testRenderer.messageSend(bot.MessageFor(workflows.Notification{Kind: workflows.NotifyDigest, Text: longDigest(),
			Attachment: &workflows.Attachment{Name: "alerts.png", ContentType: "image/png", Data: []byte("\x89PNG")}}))},
		{"reply-show", testRenderer.replyEdit(bot.Reply{Ephemeral: true, Card: &ackedCard})},
		{"reply-task-followup", testRenderer.replyFollowup(bot.Reply{Text: "discord:" + responderUser + " opened task `T-1` for `TH-7`, assigned to discord:" + assigneeUser + ", due 2026-12-01.",
			Actors: []string{"discord:" + responderUser, "discord:" + assigneeUser}}, false)},
		{"modal-task", taskModal("TH-7")},
		{"modal-suppress", suppressModal("TH-7")},
		{"application-command", applicationCommand()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { golden(t, tc.name, tc.got) })
	}
}

func longDigest() string {
	var b strings.Builder
	b.WriteString("Weekly review, 2026-11-18 to 2026-11-25:\n")
	for i := 1; i <= 60; i++ {
		b.WriteString("• `TH-" + strings.Repeat("1", 1+i%3) + "` HIGH resolved: Console login without MFA, stratus-red-team-user\n")
	}
	return b.String()
}

func TestRenderAttachment(t *testing.T) {
	ms := testRenderer.messageSend(bot.MessageFor(workflows.Notification{Kind: workflows.NotifyDigest, Text: "Digest",
		Attachment: &workflows.Attachment{Name: "alerts.png", ContentType: "image/png", Data: []byte("\x89PNG")}}))
	if len(ms.Files) != 1 || ms.Files[0].Name != "alerts.png" || ms.Files[0].ContentType != "image/png" {
		t.Fatalf("files=%+v", ms.Files)
	}
	if b, _ := io.ReadAll(ms.Files[0].Reader); string(b) != "\x89PNG" {
		t.Fatalf("file content=%q", b)
	}
	// Text too long for a message is cut, and attached whole.
	long := longDigest()
	ms = testRenderer.messageSend(bot.Message{Text: long})
	if len(ms.Files) != 1 || ms.Files[0].Name != "message.txt" || len([]rune(ms.Embeds[0].Description)) > maxEmbedDesc {
		t.Fatalf("files=%+v, description of %d characters", ms.Files, len([]rune(ms.Embeds[0].Description)))
	}
	if b, _ := io.ReadAll(ms.Files[0].Reader); string(b) != long {
		t.Fatalf("attached text is not the whole text")
	}
}

func TestComponentsRows(t *testing.T) {
	var buttons []bot.Button
	for i := 0; i < 12; i++ {
		buttons = append(buttons, bot.Button{Op: bot.OpAcknowledge, Label: strings.Repeat("x", 100)})
	}
	rows := testRenderer.components(buttons, "TH-1", "https://example.com/e")
	if len(rows) != 3 {
		t.Fatalf("rows=%d, want 3", len(rows))
	}
	total := 0
	for _, r := range rows {
		n := len(r.(discordgo.ActionsRow).Components)
		if n > maxButtonsPerRow {
			t.Fatalf("row has %d buttons, Discord allows %d", n, maxButtonsPerRow)
		}
		for _, c := range r.(discordgo.ActionsRow).Components {
			if b := c.(discordgo.Button); len([]rune(b.Label)) > maxButtonLabel {
				t.Fatalf("label of %d characters", len([]rune(b.Label)))
			}
		}
		total += n
	}
	if total != 13 {
		t.Fatalf("buttons=%d, want 12 and the link", total)
	}
	last := rows[2].(discordgo.ActionsRow).Components
	if b := last[len(last)-1].(discordgo.Button); b.Style != discordgo.LinkButton || b.URL != "https://example.com/e" || b.CustomID != "" {
		t.Fatalf("link button=%+v", b)
	}
}

func TestEmbedLimits(t *testing.T) {
	a := workflows.Alert{ID: "TH-1", State: workflows.StateNew, Severity: detectors.Critical, Count: 1, Finding: detectors.Finding{
		RuleID: "r", Title: strings.Repeat("T", 400), Reason: strings.Repeat("r", 5000), Description: strings.Repeat("d", 3000),
		Recommendation: strings.Repeat("c", 2000), UserAgent: strings.Repeat("u", 2000), Principal: sources.Principal{ARN: strings.Repeat("p", 1500)},
	}}
	e := testRenderer.embed(bot.CardFor(a))
	n := len([]rune(e.Title)) + len([]rune(e.Description)) + len([]rune(e.Footer.Text))
	if len([]rune(e.Title)) > maxEmbedTitle || len([]rune(e.Description)) > maxEmbedDesc {
		t.Fatalf("title %d, description %d characters", len([]rune(e.Title)), len([]rune(e.Description)))
	}
	for _, f := range e.Fields {
		if len([]rune(f.Value)) > maxFieldValue {
			t.Fatalf("field %s has %d characters", f.Name, len([]rune(f.Value)))
		}
		n += len([]rune(f.Name)) + len([]rune(f.Value))
	}
	if n > maxEmbedTotal {
		t.Fatalf("embed has %d characters, Discord allows %d", n, maxEmbedTotal)
	}
}

func TestMentions(t *testing.T) {
	tests := []struct {
		in         []string
		text       string
		users      []string
		roles      []string
		everyone   bool
		parseEmpty bool
	}{
		{nil, "", nil, nil, false, true},
		{[]string{assigneeUser}, "<@" + assigneeUser + ">", []string{assigneeUser}, nil, false, true},
		{[]string{"discord:" + assigneeUser, "<@" + assigneeUser + ">"}, "<@" + assigneeUser + ">", []string{assigneeUser, assigneeUser}, nil, false, true},
		{[]string{"role:" + analystRole, "&" + responderRole, "<@&" + analystRole + ">"}, "<@&" + analystRole + "> <@&" + responderRole + ">", nil, []string{analystRole, responderRole, analystRole}, false, true},
		{[]string{"@here", "everyone"}, "@here @everyone", nil, nil, true, false},
		{[]string{"U024BE7LH", "slack:U1", "<!channel>", "123"}, "", nil, nil, false, true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.in, ","), func(t *testing.T) {
			text, am := mentions(tc.in)
			if text != tc.text {
				t.Fatalf("text=%q, want %q", text, tc.text)
			}
			if strings.Join(am.Users, ",") != strings.Join(tc.users, ",") || strings.Join(am.Roles, ",") != strings.Join(tc.roles, ",") {
				t.Fatalf("allowed=%+v", am)
			}
			if tc.everyone != (len(am.Parse) == 1 && am.Parse[0] == discordgo.AllowedMentionTypeEveryone) || am.Parse == nil {
				t.Fatalf("parse=%v (must never be null: null lets Discord ping every mention in the text)", am.Parse)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text 203.0.113.9", "plain text 203.0.113.9"},
		{"[click](https://evil)", `\[click\]\(https://evil\)`},
		{"<@123> @everyone @Here", "\\<@123\\> @\u200beveryone @\u200bHere"},
		{"a_b*c~d`e|f", "a\\_b\\*c\\~d\\`e\\|f"},
		{"- item\n  + more\n# h\n> q", "\\- item\n  \\+ more\n\\# h\n\\> q"},
		{"us-east-1", "us-east-1"},
		{`back\slash`, `back\\slash`},
	}
	for _, tc := range tests {
		if got := escape(tc.in); got != tc.want {
			t.Errorf("escape(%q)=%q, want %q", tc.in, got, tc.want)
		}
	}
}
