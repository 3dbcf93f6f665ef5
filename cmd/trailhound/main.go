// Command trailhound is a chat-ops security alert bot: it reads AWS
// CloudTrail and CloudWatch Logs, detects suspicious activity, and posts
// interactive alerts to Slack, Discord or the terminal.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitFindings = 3
)

// command is one subcommand.
type command struct {
	summary string
	run     func(env *env, args []string) int
}

// commands maps subcommand names to their implementation. It is filled
// in init because `run` serves commands to the command line (admin.go),
// which refers back to it.
var commands map[string]command

func init() { commands = commandTable() }

func commandTable() map[string]command {
	return map[string]command{
		"run":      {"run the bot: poll sources on their schedules and post alerts", cmdRun},
		"scan":     {"scan files or configured sources once and print findings", cmdScan},
		"validate": {"check a config file", cmdValidate},
		"findings": {"list stored findings and alerts, or show one", cmdFindings},
		"sources":  {"show each configured source's health: last poll, lag, errors", cmdSources},
		"version":  {"print the version", cmdVersion},
		"rules":    {"list the detection rules, test them on samples, or measure them", cmdRules},
		"digest":   {"review a period: counts, response times, open alerts, overdue tasks", cmdDigest},
		"tasks":    {"list remediation tasks by person and state", cmdTasks},
		"task":     {"show a remediation task or change its status", cmdTask},
		"baseline": {"learn the anomaly detectors' baselines from past events", cmdBaseline},
		"ack":      {"acknowledge an alert", cmdAck},
		"resolve":  {"resolve an alert, as fixed or as a false positive", cmdResolve},
		"silence":  {"mute new alerts of a rule, principal, account or alert for a while", cmdSilence},
		"restore":  {"restore the database from a snapshot in S3", cmdRestore},
	}
}

// env is what a command runs with; tests replace the streams.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// bot, when set, is the running bot's app: the command came over its
	// admin socket and uses the bot's open database.
	bot *app
}

func main() {
	setMemoryLimit(os.Getenv)
	os.Exit(realMain(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:]))
}

// defaultMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT
// is not set. With it, `scan` and `run --once` over a million events peak
// under 120 MB resident, with CPU time within the noise of no limit: the
// heap grows to about twice its live size between collections, and the
// limit makes the collector run before that. It is soft: a process that needs more gets
// it, with the collector then taking up to half of its CPU time. Set
// GOMEMLIMIT (a size, or "off" for no limit) to choose otherwise.
const defaultMemoryLimit = 70 << 20

// setMemoryLimit sets defaultMemoryLimit unless GOMEMLIMIT is set, and
// returns the limit in force.
func setMemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
	return defaultMemoryLimit
}

// keepRuntimeMemoryLimit gives the long-running bot (`run` without
// --once) the Go runtime's own default, no limit, unless GOMEMLIMIT is
// set, and returns the limit in force. The bot's live heap grows with the
// sources and baselines it serves, and a soft limit below it would have the
// collector take up to half of its CPU time for as long as it runs.
func keepRuntimeMemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	return math.MaxInt64
}

func realMain(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "trailhound: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return exitUsage
	}
	// While `trailhound run` holds the database, it runs the command.
	if code, ok := forwardToBot(e, args); ok {
		return code
	}
	return c.run(e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `trailhound: security alerts from AWS logs, in chat.

Usage: trailhound COMMAND [flags]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Without --config, commands use the embedded demo config: the bundled sample
logs, state in ./trailhound-data, alerts to the terminal.

Run "trailhound COMMAND --help" for a command's flags and examples.
`)
}

// newFlags returns a flag set whose usage prints the synopsis, flags and
// examples.
func newFlags(e *env, name, synopsis, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: trailhound %s %s\n", name, synopsis)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
		if examples != "" {
			fmt.Fprintf(fs.Output(), "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// parseFlags parses args and returns the exit code to stop with, or -1 to
// go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	return -1
}

func fail(e *env, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(e.stderr, "trailhound: %s\n", strings.TrimSpace(msg))
	return exitError
}
