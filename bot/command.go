package bot

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
)

// MaxCommandLength is the longest slash-command text accepted.
const MaxCommandLength = 1000

// Command is a parsed slash command (`/trailhound findings since 24h`).
type Command struct {
	// Name is the subcommand: findings, show, ack, escalate, resolve, tasks,
	// task, silence, silences, unsilence, digest, sources, activity or
	// help.
	Name string
	// Since, MinSeverity, RuleID, Account and State filter `findings`;
	// Since also sets the period of `digest` and `activity`.
	Since       time.Duration
	MinSeverity detectors.Severity
	RuleID      string
	Account     string
	State       string
	// ID is the alert, task or silence the command is about.
	ID string
	// Scope is `tasks`' selection: mine, open, overdue or all.
	Scope string
	// TaskStatus is the new status given to `task`.
	TaskStatus workflows.TaskStatus
	// Duration is how long `silence` lasts.
	Duration time.Duration
	// Reason is free text: a silence's reason or a note.
	Reason string
	// Principal selects what `silence` mutes, with RuleID, Account and ID
	// (an alert, standing for alerts like it); for `activity` it is whose
	// calls to show, and ID the alert they are around.
	Principal string
}

// UsageError is a command the user typed wrong: Msg says what, Usage shows
// the right form.
type UsageError struct {
	Msg   string
	Usage string
}

func (e *UsageError) Error() string { return e.Msg + ". Usage: " + e.Usage }

// Usage lines for each command.
var Usage = map[string]string{
	"findings":  "/trailhound findings [since 24h] [severity high] [rule ID] [account ID] [state open]",
	"show":      "/trailhound show ALERT-ID",
	"ack":       "/trailhound ack ALERT-ID",
	"escalate":  "/trailhound escalate ALERT-ID",
	"resolve":   "/trailhound resolve ALERT-ID [note]",
	"tasks":     "/trailhound tasks [mine|open|overdue|all]",
	"task":      "/trailhound task TASK-ID [open|in_progress|done|wont_fix] [note]",
	"silence":   "/trailhound silence RULE-ID|rule=ID|principal=NAME|account=ID|alert=TH-12 [...] DURATION [reason]",
	"silences":  "/trailhound silences",
	"unsilence": "/trailhound unsilence SILENCE-ID",
	"digest":    "/trailhound digest [since 7d]",
	"sources":   "/trailhound sources",
	"activity":  "/trailhound activity [PRINCIPAL] [--around TH-12 | --since 24h]",
	"help":      "/trailhound help",
}

// CommandOrder lists commands as help shows them.
var CommandOrder = []string{"findings", "show", "ack", "escalate", "resolve", "tasks", "task", "silence", "silences", "unsilence", "digest", "sources", "activity", "help"}

// HelpText lists every command.
func HelpText() string {
	var b strings.Builder
	b.WriteString("Trailhound commands:\n")
	for _, n := range CommandOrder {
		b.WriteString("• `" + Usage[n] + "`\n")
	}
	return b.String()
}

// ParseCommand parses the text after the slash command. Empty text is help.
func ParseCommand(text string) (Command, error) {
	if len(text) > MaxCommandLength {
		return Command{}, &UsageError{Msg: fmt.Sprintf("command is longer than %d characters", MaxCommandLength), Usage: Usage["help"]}
	}
	for _, r := range text {
		if unicode.IsControl(r) && r != '\t' && r != '\n' {
			return Command{}, &UsageError{Msg: "command contains control characters", Usage: Usage["help"]}
		}
	}
	words := strings.Fields(text)
	if len(words) == 0 {
		return Command{Name: "help"}, nil
	}
	name := strings.ToLower(words[0])
	args := words[1:]
	if name == "acknowledge" {
		name = "ack"
	}
	usage, ok := Usage[name]
	if !ok {
		return Command{}, &UsageError{Msg: fmt.Sprintf("unknown command %q", truncate(words[0], 32)), Usage: Usage["help"]}
	}
	c := Command{Name: name}
	bad := func(format string, a ...any) error {
		return &UsageError{Msg: fmt.Sprintf(format, a...), Usage: usage}
	}
	switch name {
	case "help", "sources", "silences":
		if len(args) > 0 {
			return c, bad("%s takes no arguments", name)
		}
	case "findings", "digest":
		if err := parseFilters(&c, args, name == "digest", bad); err != nil {
			return c, err
		}
	case "show", "ack", "escalate", "resolve":
		if len(args) == 0 {
			return c, bad("give an alert id, e.g. TH-12")
		}
		c.ID = strings.ToUpper(args[0])
		if !validAlertID(c.ID) {
			return c, bad("%q is not an alert id (like TH-12)", truncate(args[0], 32))
		}
		if name == "resolve" {
			c.Reason = strings.Join(args[1:], " ")
		} else if len(args) > 1 {
			return c, bad("unexpected %q", truncate(args[1], 32))
		}
	case "tasks":
		c.Scope = "open"
		if len(args) > 1 {
			return c, bad("give at most one of mine, open, overdue, all")
		}
		if len(args) == 1 {
			c.Scope = strings.ToLower(args[0])
			switch c.Scope {
			case "mine", "open", "overdue", "all":
			default:
				return c, bad("unknown selection %q", truncate(args[0], 32))
			}
		}
	case "task":
		if len(args) == 0 {
			return c, bad("give a task id, e.g. T-3")
		}
		c.ID = strings.ToUpper(args[0])
		if !validID(c.ID, "T-") {
			return c, bad("%q is not a task id (like T-3)", truncate(args[0], 32))
		}
		if len(args) > 1 {
			st, err := workflows.ParseTaskStatus(args[1])
			if err != nil {
				return c, bad("%v", err)
			}
			c.TaskStatus = st
			c.Reason = strings.Join(args[2:], " ")
		}
	case "silence":
		// Selectors (rule=, principal=, account=, alert=) or a bare rule
		// id, then the duration, then the reason.
		i := 0
		for ; i < len(args) && strings.Contains(args[i], "="); i++ {
			key, val, _ := strings.Cut(args[i], "=")
			switch strings.ToLower(key) {
			case "rule":
				if !validRuleID(val) {
					return c, bad("%q is not a rule id", truncate(val, 64))
				}
				c.RuleID = val
			case "principal":
				if !validPrincipal(val) {
					return c, bad("%q is not a principal name or ARN", truncate(val, 64))
				}
				c.Principal = val
			case "account":
				if !validAccount(val) {
					return c, bad("%q is not a 12-digit AWS account id", truncate(val, 32))
				}
				c.Account = val
			case "alert":
				c.ID = strings.ToUpper(val)
				if !validAlertID(c.ID) {
					return c, bad("%q is not an alert id (like TH-12)", truncate(val, 32))
				}
			default:
				return c, bad("unknown selector %q (want rule, principal, account or alert)", truncate(key, 32))
			}
		}
		if i == 0 && len(args) > 0 {
			c.RuleID = args[0]
			if !validRuleID(c.RuleID) {
				return c, bad("%q is not a rule id", truncate(args[0], 64))
			}
			i = 1
		}
		if i == 0 || i >= len(args) {
			return c, bad("give what to silence and a duration")
		}
		d, err := ParseDuration(args[i])
		if errors.Is(err, ErrDurationTooLong) || err == nil && d > workflows.MaxSilence {
			return c, bad("a silence lasts at most %d days", int(workflows.MaxSilence.Hours()/24))
		}
		if err != nil || d <= 0 {
			return c, bad("%q is not a duration like 2h or 7d", truncate(args[i], 32))
		}
		c.Duration = d
		c.Reason = strings.Join(args[i+1:], " ")
	case "activity":
		if err := parseActivity(&c, args, bad); err != nil {
			return c, err
		}
	case "unsilence":
		if len(args) != 1 {
			return c, bad("give one silence id, e.g. S-4")
		}
		c.ID = strings.ToUpper(args[0])
		if !validID(c.ID, "S-") {
			return c, bad("%q is not a silence id (like S-4)", truncate(args[0], 32))
		}
	}
	return c, nil
}

// parseFilters reads "key value" (or key=value) pairs.
func parseFilters(c *Command, args []string, digest bool, bad func(string, ...any) error) error {
	for i := 0; i < len(args); i++ {
		key, val, hasEq := strings.Cut(args[i], "=")
		key = strings.ToLower(key)
		if !hasEq {
			if i+1 >= len(args) {
				return bad("%q needs a value", truncate(key, 32))
			}
			i++
			val = args[i]
		}
		if digest && key != "since" {
			return bad("digest only takes since")
		}
		switch key {
		case "since", "last":
			d, err := ParseDuration(val)
			if errors.Is(err, ErrDurationTooLong) || err == nil && d > 366*24*time.Hour {
				return bad("since is at most 366d")
			}
			if err != nil || d <= 0 {
				return bad("%q is not a duration like 24h or 7d", truncate(val, 32))
			}
			c.Since = d
		case "severity", "sev":
			s, err := detectors.ParseSeverity(val)
			if err != nil {
				return bad("%v", err)
			}
			c.MinSeverity = s
		case "rule":
			if !validRuleID(val) {
				return bad("%q is not a rule id", truncate(val, 64))
			}
			c.RuleID = val
		case "account":
			if !validAccount(val) {
				return bad("%q is not a 12-digit AWS account id", truncate(val, 32))
			}
			c.Account = val
		case "state":
			switch val {
			case "open", "new", "acknowledged", "escalated", "resolved", "suppressed":
				c.State = val
			default:
				return bad("unknown state %q", truncate(val, 32))
			}
		default:
			return bad("unknown filter %q", truncate(key, 32))
		}
	}
	return nil
}

// parseActivity reads `activity [PRINCIPAL] [--around TH-12 | --since
// 24h]`; the options may also be written around TH-12, around=TH-12.
func parseActivity(c *Command, args []string, bad func(string, ...any) error) error {
	for i := 0; i < len(args); i++ {
		word := args[i]
		key, val, hasEq := strings.Cut(strings.TrimPrefix(word, "--"), "=")
		key = strings.ToLower(key)
		if key != "around" && key != "since" {
			if strings.HasPrefix(word, "-") {
				return bad("unknown option %q (want --around or --since)", truncate(word, 32))
			}
			if c.Principal != "" {
				return bad("give one principal, not %q too", truncate(word, 64))
			}
			if !validPrincipal(word) || strings.Contains(word, "*") {
				return bad("%q is not a principal name, ARN or access key id", truncate(word, 64))
			}
			c.Principal = word
			continue
		}
		if !hasEq {
			if i+1 >= len(args) {
				return bad("%s needs a value", key)
			}
			i++
			val = args[i]
		}
		switch key {
		case "around":
			if c.ID != "" {
				return bad("give --around once")
			}
			c.ID = strings.ToUpper(val)
			if !validAlertID(c.ID) {
				return bad("%q is not an alert id (like TH-12)", truncate(val, 32))
			}
		case "since":
			if c.Since != 0 {
				return bad("give --since once")
			}
			d, err := ParseDuration(val)
			if errors.Is(err, ErrDurationTooLong) || err == nil && d > MaxActivitySince {
				return bad("since is at most %dd (CloudTrail keeps 90 days of management events)", int(MaxActivitySince.Hours()/24))
			}
			if err != nil || d <= 0 {
				return bad("%q is not a duration like 24h or 7d", truncate(val, 32))
			}
			c.Since = d
		}
	}
	switch {
	case c.ID != "" && c.Since != 0:
		return bad("give either --around or --since, not both")
	case c.Principal == "" && c.ID == "":
		return bad("give a principal, an alert (--around TH-12), or both")
	}
	return nil
}

// validAccount accepts a 12-digit AWS account id.
func validAccount(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// validPrincipal accepts IAM names and ARNs (and * patterns): letters,
// digits and +=,.@_-:/*, at most 256 characters.
func validPrincipal(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@_-:/*", r)) {
			return false
		}
	}
	return true
}

// validRuleID accepts rule ids: letters, digits, '-', '_', '.', ':' and '/'.
func validRuleID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/", r)) {
			return false
		}
	}
	return true
}

// IsUsage reports whether err is a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}
