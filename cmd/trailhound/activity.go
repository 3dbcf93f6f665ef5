package main

import (
	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/activity"
)

// activityLookup is what the Activity button and `/trailhound activity`
// read through: every built source that can answer for a principal
// (cloudtrail: LookupEvents; cloudwatch: Logs Insights) behind one chain
// that picks the fastest for each query's account, region and window,
// bounded by the config's activity section. Without such a source the
// answer says that no engine is configured.
func (a *app) activityLookup(srcs []sources.Source) *bot.Activity {
	var readers []activity.Reader
	for _, s := range srcs {
		if r, ok := s.(activity.Reader); ok {
			readers = append(readers, r)
		}
	}
	c := a.cfg.Activity
	act := &bot.Activity{Options: bot.ActivityOptions{Window: c.Window.D(), MaxRows: c.MaxRows, CacheTTL: c.CacheTTL.D(), MaxConcurrent: c.MaxConcurrent, Timeout: c.Timeout.D()}}
	if len(readers) > 0 {
		act.Reader = &activity.Chain{Readers: readers, Now: a.now, Log: a.log}
	}
	return act
}
