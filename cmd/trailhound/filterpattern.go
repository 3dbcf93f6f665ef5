package main

import (
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/rules/pushdown"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/cloudwatch"
)

// derivedFilterPattern is the CloudWatch Logs filter pattern that keeps
// every CloudTrail record one of the detectors may fire on: the rules'
// conditions (detectors/rules/pushdown) and the event names of other
// detectors scoped to names. It is empty, with the reason, when a detector
// may fire on any event or the pattern cannot be made short enough.
func derivedFilterPattern(ds []detectors.Detector) (pattern, why string) {
	var rs []*rules.Rule
	var names []string
	for _, d := range ds {
		if r, ok := d.(*rules.Rule); ok {
			rs = append(rs, r)
			continue
		}
		if s, ok := d.(detectors.ActionScoped); ok && s.Actions() != nil {
			names = append(names, s.Actions()...)
			continue
		}
		return "", "detector " + d.ID() + " needs every event"
	}
	return pushdown.PackFilterPatternWith(rs, names, cloudwatch.MaxFilterPattern)
}

// deriveFilterPatterns sets the derived filter pattern on sources whose
// config says filter_pattern: rules, and logs what was sent.
func deriveFilterPatterns(a *app, name string, srcs []sources.Source) {
	if a.engine == nil {
		return
	}
	p, why := derivedFilterPattern(a.engine.Detectors())
	for _, s := range srcs {
		if cw, ok := s.(*cloudwatch.Source); ok {
			cw.SetFilterPattern(p)
		}
	}
	if a.log == nil {
		return
	}
	if p == "" {
		a.log.Info("cloudwatch source reads every record: no filter pattern can be derived from the enabled rules",
			"source", name, "reason", why)
		return
	}
	a.log.Info("cloudwatch source filter pattern derived from the enabled rules", "source", name, "pattern_chars", len(p))
}
