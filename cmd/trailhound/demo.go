package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

// The embedded demo reads sample logs from 2023 and 2024, so "the last
// 24 hours" of real time holds none of them. In the demo, a --since or
// --until given as a duration counts back from the newest sample event
// instead, and the command says so on stderr. Dates and times, and every
// config file, mean what they say.

// relative reports whether a --since/--until value is a duration before
// now rather than a date or time.
func relative(v string) bool {
	if v == "" {
		return false
	}
	_, err := configs.ParseDuration(v)
	return err == nil
}

// clock returns the time that durations in --since/--until count back
// from: now, or in the demo the time of the newest event of srcs (the
// demo's sample sources; nil when the command reads files named on its
// command line). flags alternate flag names and values: "--since", "24h".
func (a *app) clock(e *env, srcs []sources.Source, flags ...string) time.Time {
	now := a.now()
	if a.cfg.File != configs.DemoName || len(srcs) == 0 || !anyRelative(flags) {
		return now
	}
	var newest time.Time
	for _, src := range srcs {
		_, _ = src.Fetch(context.Background(), nil, sources.FuncSink{
			OnEvent: func(_ context.Context, ev *sources.Event) error {
				if ev.Time.After(newest) && !ev.Time.After(now) {
					newest = ev.Time
				}
				return nil
			},
		})
	}
	return demoNote(e, newest, now, "sample logs end at", flags)
}

// storedClock is clock for commands that read stored alerts: in the demo,
// durations count back from the newest event of a stored alert.
func (a *app) storedClock(e *env, flags ...string) time.Time {
	now := a.now()
	if a.cfg.File != configs.DemoName || !anyRelative(flags) {
		return now
	}
	alerts, err := a.alerts.List(workflows.Filter{})
	if err != nil {
		return now
	}
	var newest time.Time
	for _, al := range alerts {
		if al.LastSeen.After(newest) && !al.LastSeen.After(now) {
			newest = al.LastSeen
		}
	}
	return demoNote(e, newest, now, "newest stored event is from", flags)
}

// anyRelative reports whether a value of flags (names and values,
// alternating) is a duration.
func anyRelative(flags []string) bool {
	for i := 1; i < len(flags); i += 2 {
		if relative(flags[i]) {
			return true
		}
	}
	return false
}

// demoNote says which clock the demo uses and returns it: newest, or now
// when there is nothing to count back from.
func demoNote(e *env, newest, now time.Time, what string, flags []string) time.Time {
	if newest.IsZero() {
		return now
	}
	var given []string
	for i := 1; i < len(flags); i += 2 {
		if relative(flags[i]) {
			given = append(given, flags[i-1]+" "+flags[i])
		}
	}
	fmt.Fprintf(e.stderr, "demo: the %s %s; %s counts back from there, not from now (give a date, or a --config, for the real clock)\n", what, newest.UTC().Format("2006-01-02 15:04 UTC"), strings.Join(given, " and "))
	return newest
}
