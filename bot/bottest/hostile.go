// Package bottest builds, for the chat adapters' tests, every kind of
// message Trailhound shows in chat from data an attacker controls: log
// events whose fields carry mentions, links and markdown, and users who
// type them into task notes, silence reasons and commands.
package bottest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/activity"
	"github.com/trailhound/trailhound/workflows"
)

// Hostile is put in every text field a log event or a user controls. It
// tries each way Slack mrkdwn and Discord markdown have to ping people,
// link elsewhere or change the formatting, including identities written
// the way Trailhound records actors.
const Hostile = "<@U0CISO> <!channel> <!here> <!subteam^S0ALL> @channel @here @everyone " +
	"<https://evil.example/a|click> [md](https://evil.example/b) <@1400000000000000666> <@&1500000000000000666> <#1100000000000000666> " +
	"slack:U0BOSS discord:1400000000000000666 **bold** __under__ *it* _it_ ~~gone~~ ||spoiler|| `code` ``x`` # heading > quote - item &amp; &lt;"

// Now is the clock of the messages.
var Now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Shown is one message as the core hands it to an adapter.
type Shown struct {
	// Name says which message kind it is ("digest notification",
	// "findings answer", ...).
	Name string
	// One of Message (a notification) and Reply (an answer) is set;
	// Usage is a mistyped command's error.
	Message *bot.Message
	Reply   *bot.Reply
	Usage   error
}

// Messages returns every kind of message, made by the real workflow
// store and chat core from hostile data, for a user of the platform
// ("slack" or "discord") with the given id, who is an analyst. The only
// intended mentions are of that user (and, on its messages, of the
// identities the routing config names).
func Messages(t testing.TB, platform, userID string) []Shown {
	t.Helper()
	db := testdb.Open(t)
	st, err := workflows.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	st.Now = func() time.Time { return Now }
	// A pattern matching the hostile principal: * stops at slashes.
	anyone := strings.Repeat("*/", strings.Count(Hostile, "/")) + "*"
	cfg, err := configs.Parse([]byte(`
workflows:
  ask_actor:
    rules: [hostile-rule]
    users: [{principal: "`+anyone+`", slack: U0ALICE, discord: "1400000000000000007"}]
`), "hostile.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if st.Config, err = workflows.LoadConfig(cfg.Workflows, []string{platform}); err != nil {
		t.Fatal(err)
	}
	ingest := func(fp string, at time.Time) workflows.IngestResult {
		var res workflows.IngestResult
		err := db.Update(func(tx *bolt.Tx) error {
			var err error
			res, err = st.Ingest(tx, []detectors.Finding{finding(fp, at)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	alertID := ingest("fp-1", Now.Add(-2*time.Hour)).New[0].ID
	ingest("fp-2", Now.Add(-time.Hour)) // grouped: a repeat
	// The outbox posts the card, asks the actor and tells of the repeat
	// now; the changes below then redraw the card.
	rec := &recorder{name: platform}
	d := &workflows.Dispatcher{Store: st, Notifiers: []workflows.Notifier{rec}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}

	health := []sources.Health{{Source: Hostile, LastError: Hostile, LastSuccess: Now.Add(-time.Hour), Events: 3}}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := &bot.Service{Store: st, Now: st.Now, Log: discard,
		Health: func() ([]sources.Health, error) { return health, nil },
		Digest: func(_ context.Context, since time.Duration) (string, error) {
			d, err := st.BuildDigest(workflows.DigestOptions{Since: Now.Add(-since), Until: Now.Add(time.Minute), Health: health})
			return d.Text(), err
		},
	}
	// The activity timeline quotes log values in every column.
	svc.Activity = &bot.Activity{Reader: hostileActivity{}}
	id := bot.Identity{Platform: platform, UserID: userID, Name: Hostile}
	var out []Shown
	reply := func(name string, r bot.Reply) {
		if r.Failed == "error" {
			t.Fatalf("%s: %s", name, r.Text)
		}
		out = append(out, Shown{Name: name, Reply: &r})
	}
	run := func(name, text string) {
		c, err := bot.ParseCommand(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		reply(name, svc.Run(context.Background(), id, bot.Analyst, c))
	}
	ctx := context.Background()
	reply("acknowledge answer", svc.Do(ctx, id, bot.Analyst, bot.OpAcknowledge, alertID, bot.OpOptions{Note: Hostile}))
	reply("refused repeat answer", svc.Do(ctx, id, bot.Analyst, bot.OpAcknowledge, alertID, bot.OpOptions{Note: Hostile}))
	reply("escalate answer", svc.Do(ctx, id, bot.Analyst, bot.OpEscalate, alertID, bot.OpOptions{Note: Hostile}))
	reply("task opened answer", svc.Do(ctx, id, bot.Analyst, bot.OpTask, alertID, bot.OpOptions{Task: workflows.TaskInput{
		Assignee: Hostile, Notes: Hostile, Title: Hostile, Due: Now.Add(-time.Hour)}}))
	run("findings answer", "findings since 7d")
	run("show answer", "show "+alertID)
	run("tasks answer", "tasks all")
	run("task answer", "task T-1")
	run("task status answer", "task T-1 in_progress "+Hostile)
	run("silence answer", "silence rule=hostile-rule 2h "+Hostile)
	run("silences answer", "silences")
	run("sources answer", "sources")
	run("digest answer", "digest since 7d")
	run("help answer", "help")
	run("activity timeline answer", "activity --around "+alertID)
	if job, r := svc.StartActivity(ctx, id, bot.Viewer, bot.ActivityRequest{AlertID: alertID}); job != nil {
		reply("activity placeholder", bot.Reply{Text: job.Placeholder})
		reply("activity timeline", bot.Reply{Text: job.Run(ctx), Actors: job.Actors})
	} else {
		t.Fatalf("activity: %s", r.Text)
	}
	reply("refused role answer", svc.Do(ctx, id, bot.Viewer, bot.OpResolve, alertID, bot.OpOptions{}))
	reply("resolve answer", svc.Do(ctx, id, bot.Analyst, bot.OpResolve, alertID, bot.OpOptions{Note: Hostile}))
	for _, text := range []string{"show " + Hostile, Hostile, "silence " + Hostile, "findings since " + Hostile} {
		_, err := bot.ParseCommand(text)
		if err == nil {
			t.Fatalf("%q parsed", text)
		}
		out = append(out, Shown{Name: "usage answer", Usage: err})
	}

	// A reminder of the overdue task, a day later.
	if _, err := (&workflows.Reminder{Store: st}).Tick(Now.Add(24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Every notification the outbox holds: the card, the question to the
	// actor, the repeat, the escalation, the redraws, the reminder.
	if _, err := d.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := st.Get(alertID)
	if err != nil {
		t.Fatal(err)
	}
	rec.notes = append(rec.notes,
		// An escalation past the card copies: a reply in the thread.
		workflows.Notification{Kind: workflows.NotifyEscalate, Alert: a, Ref: workflows.MessageRef{Notifier: platform, Channel: "C1", MessageID: "1"}, Text: "Escalated to level 2: `" + a.ID + "` " + Hostile + " (" + Hostile + ")."})
	digest, err := svc.Digest(ctx, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rec.notes = append(rec.notes, workflows.Notification{Kind: workflows.NotifyDigest, Text: digest})
	kinds := map[workflows.NotifyKind]bool{}
	for _, n := range rec.notes {
		m := bot.MessageFor(n)
		out = append(out, Shown{Name: string(n.Kind) + " notification", Message: &m})
		kinds[n.Kind] = true
	}
	for _, k := range []workflows.NotifyKind{workflows.NotifyNew, workflows.NotifyRepeat, workflows.NotifyUpdate, workflows.NotifyEscalate, workflows.NotifyAskActor, workflows.NotifyReminder, workflows.NotifyDigest} {
		if !kinds[k] {
			t.Fatalf("no %s notification was made", k)
		}
	}
	// A card with tasks, as `show` and the redraws draw it.
	tasks, err := st.ListTasks(workflows.TaskFilter{AlertID: alertID})
	if err != nil {
		t.Fatal(err)
	}
	card := bot.CardFor(a).WithTasks(tasks, Now)
	out = append(out, Shown{Name: "card with tasks", Message: &bot.Message{Card: &card, AlertID: a.ID}})
	for _, s := range out {
		if s.Reply != nil && strings.Contains(s.Reply.Text, "went wrong") {
			t.Fatalf("%s: %s", s.Name, s.Reply.Text)
		}
	}
	return out
}

// finding is a finding whose every text field is hostile.
func finding(fp string, at time.Time) detectors.Finding {
	return detectors.Finding{
		RuleID: "hostile-rule", Title: Hostile, Severity: detectors.High, Fingerprint: fp, GroupKey: "hostile-group", Time: at,
		Source: Hostile, Account: "111122223333", Region: Hostile, Service: Hostile, Action: Hostile,
		Principal: sources.Principal{Name: Hostile, ARN: Hostile}, SourceIP: Hostile, UserAgent: Hostile, ErrorCode: Hostile,
		Technique: Hostile, Reason: Hostile, Description: Hostile, Recommendation: Hostile, EventIDs: []string{Hostile},
	}
}

// hostileActivity answers activity lookups with calls whose every value
// is hostile.
type hostileActivity struct{}

func (hostileActivity) Activity(_ context.Context, q activity.Query, _ int) (activity.Result, error) {
	row := activity.Row{Time: q.Start, Action: Hostile, Target: Hostile, SourceIP: Hostile, Error: Hostile}
	return activity.Result{Rows: []activity.Row{row, row}, Total: 3, Unreadable: 1, Engine: Hostile}, nil
}

// recorder is a notifier that keeps what it is handed and posts nothing.
type recorder struct {
	name  string
	notes []workflows.Notification
	seq   int
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(_ context.Context, n workflows.Notification) (workflows.MessageRef, bool, error) {
	if n.Kind == workflows.NotifyDigest {
		return workflows.MessageRef{}, false, errors.New("digests are added by Messages")
	}
	r.notes = append(r.notes, n)
	if n.Kind == workflows.NotifyNew || n.Kind == workflows.NotifyEscalate {
		r.seq++
		return workflows.MessageRef{Notifier: r.name, Channel: "C1", MessageID: string(rune('0' + r.seq))}, false, nil
	}
	return n.Ref, false, nil
}
