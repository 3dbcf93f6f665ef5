package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/trailhound/trailhound/bot"
)

// ack, resolve and silence change alerts from the command line through
// the same core as a chat button or slash command (bot.Service), so they
// leave the same audit entries; the actor is cli:NAME. While the bot runs
// they go through it (see admin.go), and the cards are redrawn at once;
// otherwise the bot redraws them from the outbox when it next starts.

// cliIdentity is the person at the command line, as the audit log names
// them: cli:NAME, from --as or $USER.
func cliIdentity(e *env, as string) bot.Identity {
	if as == "" {
		as = e.getenv("USER")
	}
	if as == "" {
		as = "unknown"
	}
	return bot.Identity{Platform: "cli", UserID: as, Name: as}
}

// replyText turns a chat reply into a line for the terminal.
func replyText(id bot.Identity, r bot.Reply) string {
	t := strings.ReplaceAll(r.Text, id.Mention(), id.Actor())
	return strings.ReplaceAll(t, "`", "")
}

// alertChange is the shared body of ack and resolve.
func alertChange(e *env, name, examples string, args []string, op func(falsePositive bool) bot.Op) int {
	fs := newFlags(e, name, "[flags] ALERT", examples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	note := fs.String("note", "", "a `note` recorded in the audit log")
	as := fs.String("as", "", "who acts, recorded as cli:NAME (default: $USER)")
	fp := new(bool)
	if name == "resolve" {
		fp = fs.Bool("false-positive", false, "resolve as a false positive (counted in the rule's false-positive rate)")
	}
	if code := parseFlags(fs, moveFlagsFirst(args)); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return fail(e, "%s takes one alert id, e.g. TH-12", name)
	}
	id := strings.ToUpper(fs.Arg(0))
	a, err := loadApp(e, *cfgPath, readWrite)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	who := cliIdentity(e, *as)
	r := a.botService().Do(context.Background(), who, bot.Analyst, op(*fp), id, bot.OpOptions{Note: *note})
	if r.Failed != "" {
		return fail(e, "%s", replyText(who, r))
	}
	fmt.Fprintln(e.stdout, replyText(who, r))
	return exitOK
}

func cmdAck(e *env, args []string) int {
	return alertChange(e, "ack", `  trailhound ack TH-12 --note "looking into it"
`, args, func(bool) bot.Op { return bot.OpAcknowledge })
}

func cmdResolve(e *env, args []string) int {
	return alertChange(e, "resolve", `  # fixed
  trailhound resolve TH-12 --note "key rotated"

  # not a threat: counts in the rule's false-positive rate
  trailhound resolve TH-12 --false-positive --note "the CI role"
`, args, func(fp bool) bot.Op {
		if fp {
			return bot.OpFalsePositive
		}
		return bot.OpResolve
	})
}

func cmdSilence(e *env, args []string) int {
	fs := newFlags(e, "silence", "[flags] RULE|rule=ID|principal=NAME|account=ID|alert=TH-12 ... DURATION [REASON...]", `  # mute a rule for two hours
  trailhound silence aws-ssm-start-session 2h maintenance window

  # mute one principal in one account overnight
  trailhound silence principal=arn:aws:iam::111122223333:user/ci account=111122223333 12h nightly deploy

  # mute alerts like TH-12 for a day
  trailhound silence alert=TH-12 1d
`)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	as := fs.String("as", "", "who silences, recorded as cli:NAME (default: $USER)")
	if code := parseFlags(fs, moveFlagsFirst(args)); code >= 0 {
		return code
	}
	c, err := bot.ParseCommand("silence " + strings.Join(fs.Args(), " "))
	if err != nil {
		return fail(e, "%s", strings.TrimSuffix(strings.SplitN(err.Error(), ". Usage:", 2)[0], "."))
	}
	a, err := loadApp(e, *cfgPath, readWrite)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	who := cliIdentity(e, *as)
	r := a.botService().Run(context.Background(), who, bot.Analyst, c)
	if r.Failed != "" {
		return fail(e, "%s", replyText(who, r))
	}
	fmt.Fprintln(e.stdout, replyText(who, r))
	return exitOK
}

// moveFlagsFirst lets flags follow the positional arguments (trailhound
// ack TH-3 --note x): it moves them first, each with its value unless it
// is a boolean flag or has one after "=".
func moveFlagsFirst(args []string) []string {
	bools := map[string]bool{"false-positive": true, "h": true, "help": true}
	var pos, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && !bools[name] && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(flags, pos...)
}
