package slack

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/bot/bottest"
)

// TestHostileTextStaysText renders every kind of message (cards,
// notifications, digests, answers to commands and buttons, usage errors,
// forms) made from log events and user input that carry Slack mentions,
// broadcasts and links in every text field, and checks the mrkdwn Slack
// would read: the only live mention is the user who acted, and no
// broadcast or link survives. Before the fix a silence reason or a
// principal name like <@U0CISO> or slack:U0BOSS in the digest or the
// findings answer became a live mention.
func TestHostileTextStaysText(t *testing.T) {
	const user = "U0ANALYST"
	shown := bottest.Messages(t, Name, user)
	mentioned := false
	for _, s := range shown {
		var p any
		switch {
		case s.Message != nil:
			p = MessagePayload(*s.Message, DefaultRawEventURL)
		case s.Reply != nil:
			p = ReplyPayload(*s.Reply, DefaultRawEventURL)
		default:
			p = UsagePayload(s.Usage)
		}
		for _, text := range mrkdwnTexts(t, p) {
			for _, problem := range liveSlack(text, user) {
				t.Errorf("%s: %s in %q", s.Name, problem, text)
			}
			mentioned = mentioned || strings.Contains(text, "<@"+user+">")
		}
	}
	meta := modalMeta{AlertID: "TH-1"}
	for _, view := range []any{TaskModal(bottest.Hostile, meta, bottest.Now), SuppressModal(bottest.Hostile, meta)} {
		for _, text := range mrkdwnTexts(t, view) {
			for _, problem := range liveSlack(text, user) {
				t.Errorf("form: %s in %q", problem, text)
			}
		}
	}
	if !mentioned {
		t.Error("the user who acted is never mentioned: actors are not rendered")
	}
}

var (
	controlRe   = regexp.MustCompile(`<([^<>]*)>`)
	broadcastOK = regexp.MustCompile(`(?i)@(channel|here|everyone)\b`)
)

// liveSlack lists what Slack would turn into a mention, broadcast or
// link in mrkdwn text, other than a mention of user.
func liveSlack(text, user string) []string {
	var out []string
	for _, m := range controlRe.FindAllStringSubmatch(text, -1) {
		if m[1] != "@"+user {
			out = append(out, "live <"+m[1]+">")
		}
	}
	for _, m := range broadcastOK.FindAllString(text, -1) {
		out = append(out, "bare "+m)
	}
	return out
}

// mrkdwnTexts returns the texts of a payload Slack parses as mrkdwn: the
// fallback text and every text object but plain_text ones.
func mrkdwnTexts(t *testing.T, payload any) []string {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "plain_text" {
				return
			}
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "text" || k == "fallback" || k == "pretext") {
					out = append(out, s)
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if len(out) == 0 {
		t.Fatal(errors.New("no text in payload"))
	}
	return out
}

// The checker itself must see what it looks for.
func TestLiveSlackFinds(t *testing.T) {
	for _, text := range []string{"<@U0CISO>", "<!channel>", "<https://evil|x>", "@here", "hi @Everyone"} {
		if len(liveSlack(text, "U0ANALYST")) == 0 {
			t.Errorf("liveSlack(%q) found nothing", text)
		}
	}
	if p := liveSlack("by <@U0ANALYST>, &lt;@U0CISO&gt; @\u2060here slack:U0BOSS", "U0ANALYST"); len(p) != 0 {
		t.Errorf("false alarm: %v", p)
	}
}
