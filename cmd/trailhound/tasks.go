package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/workflows"
)

const tasksExamples = `  # open tasks, soonest due first
  trailhound tasks

  # one person's overdue tasks
  trailhound tasks --assignee slack:U0123ABCD --state overdue

  # every task of an alert, as JSON
  trailhound tasks --alert TH-12 --state all --format json
`

func cmdTasks(e *env, args []string) int {
	fs := newFlags(e, "tasks", "[flags]", tasksExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	assignee := fs.String("assignee", "", "only tasks assigned to this `person` (e.g. slack:U0123ABCD or a name)")
	state := fs.String("state", "open", "which `tasks`: open (not closed), overdue, all, or a status: open_only, in_progress, done, wont_fix")
	alert := fs.String("alert", "", "only tasks of this alert `id`")
	format := fs.String("format", "text", "output `format`: text or json")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return fail(e, "unexpected argument %q (to change a task: trailhound task set ID STATUS)", fs.Arg(0))
	}
	if *format != "text" && *format != "json" {
		return fail(e, "--format must be text or json, not %q", *format)
	}
	f := workflows.TaskFilter{Assignee: *assignee, AlertID: strings.ToUpper(*alert)}
	a, err := loadApp(e, *cfgPath, readOnly)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	now := a.now().UTC()
	switch *state {
	case "open":
		f.OpenOnly = true
	case "overdue":
		f.OverdueAt = now
	case "all":
	case "open_only":
		f.Statuses = []workflows.TaskStatus{workflows.TaskOpen}
	default:
		st, err := workflows.ParseTaskStatus(*state)
		if err != nil {
			return fail(e, "--state: %v", err)
		}
		f.Statuses = []workflows.TaskStatus{st}
	}
	tasks, err := a.alerts.ListTasks(f)
	if err != nil {
		return fail(e, "%v", err)
	}
	if *format == "json" {
		if tasks == nil {
			tasks = []workflows.Task{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(tasks); err != nil {
			return fail(e, "%v", err)
		}
		return exitOK
	}
	if len(tasks) == 0 {
		fmt.Fprintln(e.stdout, "no tasks match")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATUS\tDUE (UTC)\tASSIGNEE\tALERT\tTITLE")
	for _, t := range tasks {
		due := "-"
		if !t.Due.IsZero() {
			due = t.Due.UTC().Format("2006-01-02 15:04")
			if t.Overdue(now) {
				due += " OVERDUE"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Status, due, dash(t.Assignee), t.AlertID, t.Title)
	}
	tw.Flush()
	return exitOK
}

const taskExamples = `  # open a task for an alert, due in three days
  trailhound task open TH-3 --assignee slack:U0123ABCD --due 3d --note "remove the rule"

  # show one task with its history
  trailhound task show T-3

  # close a task
  trailhound task set T-3 done --note "rule removed from sg-0abc"

  # take a task
  trailhound task set T-3 in_progress --as alice
`

func cmdTask(e *env, args []string) int {
	if len(args) == 0 || args[0] != "show" && args[0] != "set" && args[0] != "open" {
		fmt.Fprintf(e.stderr, "Usage: trailhound task open ALERT | show ID | set ID STATUS [flags]\n\nExamples:\n%s", taskExamples)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	sub := args[0]
	fs := newFlags(e, "task "+sub, map[string]string{"show": "[flags] ID", "set": "[flags] ID STATUS", "open": "[flags] ALERT"}[sub], taskExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	var note, as, assignee, due, title *string
	if sub != "show" {
		note = fs.String("note", "", "a `note` recorded with the change")
		as = fs.String("as", "", "who makes the change, recorded as cli:NAME (default: $USER)")
	}
	if sub == "open" {
		assignee = fs.String("assignee", "", "who carries the task out: a `person` (slack:U0123ABCD, discord:112233445566778899 or a name)")
		due = fs.String("due", "", "when it is due: a `duration` from now (3d, 36h) or a date (2006-01-02 or RFC 3339); default: by the alert's severity (workflows.tasks.due)")
		title = fs.String("title", "", "the task's `title` (default: Fix: and the alert's title)")
	}
	// Flags may follow the positional arguments: move them first.
	var pos, flags []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		if strings.HasPrefix(rest[i], "-") {
			flags = append(flags, rest[i])
			if !strings.Contains(rest[i], "=") && i+1 < len(rest) && rest[i] != "-h" && rest[i] != "--help" {
				flags = append(flags, rest[i+1])
				i++
			}
			continue
		}
		pos = append(pos, rest[i])
	}
	if code := parseFlags(fs, append(flags, pos...)); code >= 0 {
		return code
	}
	want := map[string]int{"show": 1, "set": 2, "open": 1}[sub]
	if fs.NArg() != want {
		return fail(e, "task %s takes %s", sub, map[string]string{"show": "one task id, e.g. T-3", "set": "a task id and a status, e.g. T-3 done", "open": "one alert id, e.g. TH-3"}[sub])
	}
	id := strings.ToUpper(fs.Arg(0))
	var dueAt time.Time
	if sub == "open" && *due != "" {
		if strings.HasPrefix(*due, "-") {
			return fail(e, "--due: %q is in the past", *due)
		}
		d, err := configs.ParseDuration(*due)
		switch {
		case err == nil:
			dueAt = time.Now().Add(d)
		default:
			if dueAt, err = parseWhen(*due, time.Now()); err != nil {
				return fail(e, "--due: %q is neither a duration like 3d nor a date (2006-01-02 or RFC 3339)", *due)
			}
		}
	}
	acc := readWrite
	if sub == "show" {
		acc = readOnly
	}
	a, err := loadApp(e, *cfgPath, acc)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	actor := ""
	if as != nil {
		actor = *as
		if actor == "" {
			actor = e.getenv("USER")
		}
		if actor == "" {
			actor = "unknown"
		}
	}
	if sub == "open" {
		t, err := a.alerts.CreateTask(workflows.TaskInput{AlertID: id, Assignee: *assignee, Due: dueAt, Notes: *note, Title: *title}, "cli:"+actor)
		if errors.Is(err, workflows.ErrNotFound) {
			return fail(e, "no alert %s", id)
		}
		if err != nil {
			return fail(e, "%v", err)
		}
		due := "no due date"
		if !t.Due.IsZero() {
			due = "due " + t.Due.UTC().Format("2006-01-02 15:04 UTC")
		}
		fmt.Fprintf(e.stdout, "%s opened for %s: %s, assigned to %s, %s\n", t.ID, t.AlertID, t.Title, dash(t.Assignee), due)
		return exitOK
	}
	if sub == "set" {
		st, err := workflows.ParseTaskStatus(fs.Arg(1))
		if err != nil {
			return fail(e, "%v", err)
		}
		t, err := a.alerts.SetTaskStatus(id, st, "cli:"+actor, *note)
		if errors.Is(err, workflows.ErrNotFound) {
			return fail(e, "no task %s", id)
		}
		if err != nil {
			return fail(e, "%v", err)
		}
		// The alert card shows its tasks: the running bot redraws it from
		// the outbox on its next dispatch.
		fmt.Fprintf(e.stdout, "%s is now %s\n", t.ID, t.Status)
		return exitOK
	}
	t, err := a.alerts.GetTask(id)
	if errors.Is(err, workflows.ErrNotFound) {
		return fail(e, "no task %s", id)
	}
	if err != nil {
		return fail(e, "%v", err)
	}
	now := a.now().UTC()
	fmt.Fprintf(e.stdout, "%s %s: %s\n", t.ID, t.Status, t.Title)
	fmt.Fprintf(e.stdout, "  alert:     %s\n", t.AlertID)
	fmt.Fprintf(e.stdout, "  assignee:  %s\n", dash(t.Assignee))
	if !t.Due.IsZero() {
		due := t.Due.UTC().Format("2006-01-02 15:04 UTC")
		if t.Overdue(now) {
			due += " (overdue)"
		}
		fmt.Fprintf(e.stdout, "  due:       %s\n", due)
	}
	if t.Recommendation != "" {
		fmt.Fprintf(e.stdout, "  what to do: %s\n", t.Recommendation)
	}
	if t.Notes != "" {
		fmt.Fprintf(e.stdout, "  notes:     %s\n", t.Notes)
	}
	for _, f := range t.Fixes {
		fmt.Fprintf(e.stdout, "  closes itself on: %s\n", f.Describe())
	}
	if t.ClosedNote != "" {
		fmt.Fprintf(e.stdout, "  closed:    %s\n", t.ClosedNote)
	}
	audit, err := a.alerts.AuditLog(t.AlertID)
	if err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintln(e.stdout, "History:")
	for _, en := range audit {
		if en.TaskID != t.ID {
			continue
		}
		line := fmt.Sprintf("  %s  %-12s %s", en.Time.UTC().Format("2006-01-02 15:04:05"), en.Action, en.Actor)
		if en.From != "" || en.To != "" {
			line += fmt.Sprintf("  %s -> %s", dash(en.From), dash(en.To))
		}
		if en.Note != "" {
			line += "  " + en.Note
		}
		fmt.Fprintln(e.stdout, line)
	}
	return exitOK
}
