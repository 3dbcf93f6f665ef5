package discord

import (
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/trailhound/trailhound/bot"
)

func TestEveryCoreCommandHasASubcommand(t *testing.T) {
	for _, name := range bot.CommandOrder {
		if _, ok := subcommands[name]; !ok {
			t.Errorf("command %q has no Discord subcommand (it falls back to a free-text argument)", name)
		}
	}
	cmd := applicationCommand()
	if len(cmd.Options) != len(bot.CommandOrder) || len(cmd.Options) > 25 {
		t.Fatalf("subcommands=%d", len(cmd.Options))
	}
	for _, sub := range cmd.Options {
		optional := false
		for _, o := range sub.Options {
			if o.Required && optional {
				t.Errorf("%s: required option %s after an optional one (Discord refuses this)", sub.Name, o.Name)
			}
			optional = optional || !o.Required
			if len(o.Description) > 100 || len(o.Name) > 32 || strings.ToLower(o.Name) != o.Name {
				t.Errorf("%s %s: name or description out of Discord's limits", sub.Name, o.Name)
			}
		}
	}
}

func opt(name, value string) *discordgo.ApplicationCommandInteractionDataOption {
	return &discordgo.ApplicationCommandInteractionDataOption{Name: name, Type: discordgo.ApplicationCommandOptionString, Value: value}
}

func TestCommandText(t *testing.T) {
	tests := []struct {
		sub     string
		opts    []*discordgo.ApplicationCommandInteractionDataOption
		want    string
		wantErr string
	}{
		{"help", nil, "help", ""},
		{"findings", []*discordgo.ApplicationCommandInteractionDataOption{opt("severity", "high"), opt("since", "24h"), opt("account", "111122223333")}, "findings since 24h severity high account 111122223333", ""},
		{"show", []*discordgo.ApplicationCommandInteractionDataOption{opt("id", " TH-12 ")}, "show TH-12", ""},
		{"resolve", []*discordgo.ApplicationCommandInteractionDataOption{opt("id", "TH-3"), opt("note", "rotated the key")}, "resolve TH-3 rotated the key", ""},
		{"task", []*discordgo.ApplicationCommandInteractionDataOption{opt("status", "done"), opt("id", "T-3")}, "task T-3 done", ""},
		{"silence", []*discordgo.ApplicationCommandInteractionDataOption{opt("rule", "aws-root-account-use"), opt("duration", "2h"), opt("reason", "break glass drill")}, "silence rule=aws-root-account-use 2h break glass drill", ""},
		{"silence", []*discordgo.ApplicationCommandInteractionDataOption{opt("principal", "arn:aws:iam::111122223333:user/ci"), opt("account", "111122223333"), opt("duration", "4h")}, "silence principal=arn:aws:iam::111122223333:user/ci account=111122223333 4h", ""},
		{"tasks", []*discordgo.ApplicationCommandInteractionDataOption{opt("which", "mine")}, "tasks mine", ""},
		{"digest", []*discordgo.ApplicationCommandInteractionDataOption{opt("since", "")}, "digest", ""},
		{"ack", []*discordgo.ApplicationCommandInteractionDataOption{opt("id", "TH-1\nTH-2")}, "", "id must be one word"},
		{"findings", []*discordgo.ApplicationCommandInteractionDataOption{opt("rule", "a b")}, "", "rule must be one word"},
		{"show", []*discordgo.ApplicationCommandInteractionDataOption{{Name: "id", Type: discordgo.ApplicationCommandOptionInteger, Value: float64(12)}}, "", "id must be text"},
		{"sources", []*discordgo.ApplicationCommandInteractionDataOption{opt("x", "y")}, "", `unknown option "x"`},
		{"nope", nil, "nope", ""},
	}
	for _, tc := range tests {
		t.Run(tc.sub+" "+tc.want+tc.wantErr, func(t *testing.T) {
			d := discordgo.ApplicationCommandInteractionData{Name: commandName, Options: []*discordgo.ApplicationCommandInteractionDataOption{
				{Name: tc.sub, Type: discordgo.ApplicationCommandOptionSubCommand, Options: tc.opts},
			}}
			got, err := commandText(d)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !bot.IsUsage(err) {
					t.Fatalf("err=%v, want usage error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("text=%q err=%v, want %q", got, err, tc.want)
			}
			if _, err := bot.ParseCommand(got); err != nil && tc.sub != "nope" {
				t.Fatalf("the core refuses %q: %v", got, err)
			}
		})
	}
}

func TestPublicCommand(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"findings", false}, {"show TH-1", false}, {"ack TH-1", false}, {"tasks", false}, {"task T-1", false},
		{"task T-1 done", true}, {"silence r 2h", true}, {"unsilence S-1", true}, {"digest", true}, {"help", false},
	} {
		c, err := bot.ParseCommand(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := publicCommand(c); got != tc.want {
			t.Errorf("public(%q)=%v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestParseTaskForm(t *testing.T) {
	me := bot.Identity{Platform: Name, UserID: responderUser}
	tests := []struct {
		name     string
		v        map[string]string
		assignee string
		due      time.Time
		wantErr  string
	}{
		{"empty is me", map[string]string{}, "discord:" + responderUser, time.Time{}, ""},
		{"me", map[string]string{fieldAssignee: "Me"}, "discord:" + responderUser, time.Time{}, ""},
		{"mention", map[string]string{fieldAssignee: "<@" + assigneeUser + ">"}, "discord:" + assigneeUser, time.Time{}, ""},
		{"nick mention", map[string]string{fieldAssignee: "<@!" + assigneeUser + ">"}, "discord:" + assigneeUser, time.Time{}, ""},
		{"bare id", map[string]string{fieldAssignee: " " + assigneeUser + " "}, "discord:" + assigneeUser, time.Time{}, ""},
		{"today is fine", map[string]string{fieldDue: "2026-11-25"}, "discord:" + responderUser, time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC), ""},
		{"role mention", map[string]string{fieldAssignee: "<@&" + analystRole + ">"}, "", time.Time{}, "is not a Discord user"},
		{"name", map[string]string{fieldAssignee: "@alice"}, "", time.Time{}, "is not a Discord user"},
		{"bad date", map[string]string{fieldDue: "2026-13-01"}, "", time.Time{}, "is not a date like"},
		{"notes too long", map[string]string{fieldNotes: strings.Repeat("n", maxTaskNotes+1)}, "", time.Time{}, "longer than 1000 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := parseTaskForm(tc.v, me, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err=%v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || in.Assignee != tc.assignee || !in.Due.Equal(tc.due) {
				t.Fatalf("input=%+v err=%v, want assignee %s due %s", in, err, tc.assignee, tc.due)
			}
		})
	}
}

func TestParseSuppressForm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1h", time.Hour, true}, {"24h", 24 * time.Hour, true}, {"7d", 7 * 24 * time.Hour, true}, {"30d", 30 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true}, {"59m", 0, false}, {"30d1h", 0, false}, {"", 0, false}, {"-2h", 0, false}, {"soon", 0, false},
		// 2^48+1 days wrapped around to exactly one day before.
		{"281474976710657d", 0, false}, {"106751d", 0, false},
	} {
		d, _, err := parseSuppressForm(map[string]string{fieldDuration: tc.in})
		if (err == nil) != tc.ok || d != tc.want {
			t.Errorf("parse(%q)=%v, %v; want %v ok=%v", tc.in, d, err, tc.want, tc.ok)
		}
	}
}
