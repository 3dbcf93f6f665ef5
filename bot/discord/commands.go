package discord

import (
	"fmt"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/trailhound/trailhound/bot"
)

// commandName is the slash command Trailhound registers.
const commandName = "trailhound"

// arg is one option of a /trailhound subcommand. Discord shows each as a
// named, typed field with its choices; the values are joined back into the
// words bot.ParseCommand reads, so the core parser stays the one judge of
// what is valid.
type arg struct {
	name, desc string
	required   bool
	choices    []string
	// keyword args are passed as "name value" (findings since 24h),
	// selector args as "name=value" (silence principal=alice); others
	// positionally.
	keyword  bool
	selector bool
	// rest is free text that may contain spaces; it comes last.
	rest bool
}

type subcommand struct {
	desc string
	args []arg
}

var (
	alertIDArg = arg{name: "id", desc: "Alert id, e.g. TH-12", required: true}
	severities = []string{"info", "low", "medium", "high", "critical"}
)

// subcommands describes each command of bot.CommandOrder for Discord.
var subcommands = map[string]subcommand{
	"findings": {"List recent alerts, most severe first", []arg{
		{name: "since", desc: "How far back, e.g. 24h or 7d (default 24h)", keyword: true},
		{name: "severity", desc: "Least severity to list", choices: severities, keyword: true},
		{name: "rule", desc: "Only alerts of this rule id", keyword: true},
		{name: "account", desc: "Only alerts in this 12-digit AWS account", keyword: true},
		{name: "state", desc: "Only alerts in this state", choices: []string{"open", "new", "acknowledged", "escalated", "resolved", "suppressed"}, keyword: true},
	}},
	"show":     {"Show one alert with its buttons", []arg{alertIDArg}},
	"ack":      {"Acknowledge an alert", []arg{alertIDArg}},
	"escalate": {"Escalate an alert", []arg{alertIDArg}},
	"resolve": {"Resolve an alert", []arg{alertIDArg,
		{name: "note", desc: "What was done", rest: true},
	}},
	"tasks": {"List remediation tasks", []arg{
		{name: "which", desc: "Which tasks (default open)", choices: []string{"mine", "open", "overdue", "all"}},
	}},
	"task": {"Show a remediation task or change its status", []arg{
		{name: "id", desc: "Task id, e.g. T-3", required: true},
		{name: "status", desc: "New status", choices: []string{"open", "in_progress", "done", "wont_fix"}},
		{name: "note", desc: "How it was done, or why not", rest: true},
	}},
	"silence": {"Stop posting new alerts of a rule, principal, account or like an alert, for a while", []arg{
		{name: "rule", desc: "Rule id, e.g. aws-root-account-use", selector: true},
		{name: "principal", desc: "Principal name or ARN (may use *)", selector: true},
		{name: "account", desc: "AWS account id", selector: true},
		{name: "alert", desc: "Alerts like this one, e.g. TH-12", selector: true},
		{name: "duration", desc: "How long, e.g. 2h or 7d"},
		{name: "reason", desc: "Why", rest: true},
	}},
	"silences":  {"List active silences", nil},
	"unsilence": {"End a silence", []arg{{name: "id", desc: "Silence id, e.g. S-4", required: true}}},
	"digest": {"Post the review digest", []arg{
		{name: "since", desc: "Period, e.g. 7d (default 7d)", keyword: true},
	}},
	"sources": {"Show the health of the log sources", nil},
	"activity": {"Show a principal's AWS calls around an alert or over a period", []arg{
		{name: "principal", desc: "User name, ARN or access key id (default: the alert's principal)"},
		{name: "around", desc: "Alert id: one hour either side of it, e.g. TH-12", keyword: true},
		{name: "since", desc: "Or a period before now, e.g. 24h (at most 90d)", keyword: true},
	}},
	"help": {"List the commands", nil},
}

// fallbackSubcommand serves a command the core knows but this table does
// not yet: the user types its arguments as text.
var fallbackSubcommand = subcommand{"Trailhound command", []arg{{name: "args", desc: "Arguments, as in /trailhound help", rest: true}}}

func subcommandFor(name string) subcommand {
	if s, ok := subcommands[name]; ok {
		return s
	}
	return fallbackSubcommand
}

// applicationCommand is /trailhound with one subcommand per core command.
func applicationCommand() *discordgo.ApplicationCommand {
	c := &discordgo.ApplicationCommand{
		Name:        commandName,
		Type:        discordgo.ChatApplicationCommand,
		Description: "Trailhound security alerts: findings, tasks, silences",
	}
	for _, name := range bot.CommandOrder {
		sc := subcommandFor(name)
		sub := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand, Name: name, Description: clip(sc.desc, 100)}
		for _, a := range sc.args {
			o := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: a.name, Description: clip(a.desc, 100), Required: a.required}
			for _, ch := range a.choices {
				o.Choices = append(o.Choices, &discordgo.ApplicationCommandOptionChoice{Name: ch, Value: ch})
			}
			sub.Options = append(sub.Options, o)
		}
		c.Options = append(c.Options, sub)
	}
	return c
}

// commandText turns an invoked /trailhound subcommand back into the text
// bot.ParseCommand reads: "findings since 24h severity high".
func commandText(d discordgo.ApplicationCommandInteractionData) (string, error) {
	if len(d.Options) == 0 {
		return "", nil
	}
	sub := d.Options[0]
	if sub.Type != discordgo.ApplicationCommandOptionSubCommand {
		return "", &bot.UsageError{Msg: "the command is out of date; Discord may still be loading the new one", Usage: bot.Usage["help"]}
	}
	usage, known := bot.Usage[sub.Name]
	if !known {
		// Let the core name the unknown command.
		return sub.Name, nil
	}
	values := map[string]string{}
	for _, o := range sub.Options {
		s, ok := o.Value.(string)
		if !ok {
			return "", &bot.UsageError{Msg: fmt.Sprintf("%s must be text", short(o.Name)), Usage: usage}
		}
		values[o.Name] = strings.TrimSpace(s)
	}
	words := []string{sub.Name}
	for _, a := range subcommandFor(sub.Name).args {
		v, ok := values[a.name]
		delete(values, a.name)
		if !ok || v == "" {
			continue
		}
		if !a.rest && strings.ContainsAny(v, " \t\r\n") {
			return "", &bot.UsageError{Msg: fmt.Sprintf("%s must be one word, not %q", a.name, short(v)), Usage: usage}
		}
		switch {
		case a.selector:
			words = append(words, a.name+"="+v)
			continue
		case a.keyword:
			words = append(words, a.name)
		}
		words = append(words, v)
	}
	for name := range values {
		return "", &bot.UsageError{Msg: fmt.Sprintf("unknown option %q", short(name)), Usage: usage}
	}
	return strings.Join(words, " "), nil
}

// publicCommand reports whether a command's answer is for the whole
// channel: changes others should see. Everything else answers only the
// user who asked. Refusals and errors are always private; the adapter
// corrects the visibility when the answer disagrees.
func publicCommand(c bot.Command) bool {
	switch c.Name {
	case "silence", "unsilence", "digest":
		return true
	case "task":
		return c.TaskStatus != ""
	}
	return false
}
