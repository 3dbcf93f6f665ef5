package discord

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/bot/bottest"
)

// TestHostileTextStaysText renders every kind of message (cards and their
// redraws, notifications, digests, answers to commands and buttons, usage
// errors) made from log events and user input that carry mentions, masked
// links and markdown in every text field, and checks what Discord would
// render: nothing but the user who acted is mentioned, no masked link or
// formatting comes from the data, and allowed_mentions lets nobody else be
// pinged. Before the fix the public digest rendered a silence reason's
// masked links, bold and mentions, and the findings answer a principal's.
func TestHostileTextStaysText(t *testing.T) {
	const user = "1400000000000000002"
	shown := bottest.Messages(t, Name, user)
	r := renderer{rawEventURL: DefaultRawEventURL}
	mentioned := false
	check := func(name string, texts []string, allowed *discordgo.MessageAllowedMentions) {
		t.Helper()
		for _, text := range texts {
			for _, problem := range liveDiscord(text, user) {
				t.Errorf("%s: %s in %q", name, problem, text)
			}
			mentioned = mentioned || strings.Contains(text, "<@"+user+">")
		}
		if allowed == nil || len(allowed.Parse) != 0 || len(allowed.Roles) != 0 || len(allowed.Users) > 1 || len(allowed.Users) == 1 && allowed.Users[0] != user {
			t.Errorf("%s: allowed_mentions=%+v, want nobody but %s", name, allowed, user)
		}
	}
	for _, s := range shown {
		switch {
		case s.Message != nil:
			ms := r.messageSend(*s.Message)
			check(s.Name, append([]string{ms.Content}, embedTexts(ms.Embeds)...), ms.AllowedMentions)
			if s.Message.Card != nil {
				me := r.cardEdit(*s.Message.Card, testChannel, "1600000000000000001")
				check(s.Name+" (redraw)", embedTexts(*me.Embeds), me.AllowedMentions)
			}
		case s.Reply != nil:
			f := r.replyFollowup(*s.Reply, s.Reply.Ephemeral)
			check(s.Name, append([]string{f.Content}, embedTexts(f.Embeds)...), f.AllowedMentions)
			e := r.replyEdit(*s.Reply)
			check(s.Name+" (edit)", append([]string{*e.Content}, embedTexts(*e.Embeds)...), e.AllowedMentions)
		default:
			var ue *bot.UsageError
			if !errors.As(s.Usage, &ue) {
				t.Fatalf("%s: %v", s.Name, s.Usage)
			}
			resp := say(ue.Msg + ". Usage: `" + ue.Usage + "`")
			check(s.Name, []string{resp.Data.Content}, resp.Data.AllowedMentions)
		}
	}
	if !mentioned {
		t.Error("the user who acted is never mentioned: actors are not rendered")
	}
}

// embedTexts are the parts of embeds where Discord renders markdown,
// links and mentions: descriptions and field values. (Titles and field
// names render none; footers are ours.)
func embedTexts(es []*discordgo.MessageEmbed) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Description)
		for _, f := range e.Fields {
			out = append(out, f.Value)
		}
	}
	return out
}

// liveDiscord lists what Discord would render in text as a mention (other
// than of user), a masked link or formatting. Escaped characters and code
// spans (shown literally) are skipped.
func liveDiscord(text, user string) []string {
	text = strings.ReplaceAll(text, "**Why it fired:**", "") // the card's own bold
	var out []string
	lineStart := true
	for i := 0; i < len(text); i++ {
		c := text[i]
		start := lineStart
		lineStart = c == '\n' || lineStart && (c == ' ' || c == '\t')
		switch {
		case c == '\\':
			i++
			lineStart = false
		case c == '`':
			// Discord's inline code: a run of backticks, text, the same
			// run. renderText makes single-backtick spans only.
			j := strings.IndexByte(text[i+1:], '`')
			end := i + 2 + j
			if j <= 0 || end < len(text) && text[end] == '`' {
				out = append(out, "stray backtick")
				continue
			}
			i = end - 1
		case c == '<':
			j := strings.IndexByte(text[i:], '>')
			if j > 0 && text[i:i+j+1] == "<@"+user+">" {
				i += j
				continue
			}
			out = append(out, "live "+text[i:min(len(text), i+j+1)])
		case c == '@':
			rest := strings.ToLower(text[i+1:])
			if strings.HasPrefix(rest, "everyone") || strings.HasPrefix(rest, "here") {
				out = append(out, "live @"+text[i+1:min(len(text), i+9)])
			}
		case strings.IndexByte("*_~|[]>", c) >= 0:
			out = append(out, "live "+string(c))
		case start && (c == '#' || c == '-' || c == '+'):
			out = append(out, "line starting with "+string(c))
		}
	}
	return slices.Compact(out)
}

// The checker itself must see what it looks for.
func TestLiveDiscordFinds(t *testing.T) {
	for _, text := range []string{"<@1>", "<@&1>", "[a](https://e)", "@everyone", "**b**", "_i_", "`a``", "# h", "> q", "- item"} {
		if len(liveDiscord(text, "7")) == 0 {
			t.Errorf("liveDiscord(%q) found nothing", text)
		}
	}
	if p := liveDiscord("by <@7>: \\<@1\\> \\[a\\]\\(u\\) @\u200beveryone \\*\\*b\\*\\* `a_b*c` \\# h", "7"); len(p) != 0 {
		t.Errorf("false alarm: %v", p)
	}
}
