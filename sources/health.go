package sources

import (
	"fmt"
	"sort"
	"time"
)

// ProblemKind says what is wrong with a source.
type ProblemKind string

// Problem kinds, from the most to the least urgent.
const (
	// ProblemPermanent: the last poll failed in a way retrying will not
	// fix (access denied, missing log group). A person must act.
	ProblemPermanent ProblemKind = "permanent-error"
	// ProblemFailing: the last poll failed and the source has not
	// succeeded for longer than the allowed staleness.
	ProblemFailing ProblemKind = "failing"
	// ProblemNeverPolled: the source is configured but has no health
	// record, or has never succeeded.
	ProblemNeverPolled ProblemKind = "never-succeeded"
	// ProblemLagging: polls succeed but the newest event read is older
	// than the allowed lag.
	ProblemLagging ProblemKind = "lagging"
)

// Problem is one thing wrong with one source, for status tables and
// digests.
type Problem struct {
	Source string      `json:"source"`
	Kind   ProblemKind `json:"kind"`
	// Since is when the problem began, as far as health records tell: the
	// last success for failing sources, the last event for lagging ones.
	Since time.Time `json:"since,omitempty"`
	// Summary is a sentence for a person.
	Summary string `json:"summary"`
}

// ProblemLimits say when a source counts as unhealthy.
type ProblemLimits struct {
	// Stale is how long a source may go without a successful poll before a
	// transient error (throttling, 5xx) counts as a problem. Zero: any
	// failed poll is a problem.
	Stale time.Duration
	// MaxLag is how old the newest event may be before a healthy source
	// counts as lagging. Zero turns the check off: quiet log groups are
	// normal.
	MaxLag time.Duration
}

// Problems lists what is wrong with the named sources, judged from their
// health records at now. Sources without a record count as never polled
// once grace has passed since start (the process start), so a freshly
// started bot does not report every source. The result is sorted by
// kind, then source name.
func Problems(health []Health, names []string, now, start time.Time, grace time.Duration, lim ProblemLimits) []Problem {
	byName := map[string]Health{}
	for _, h := range health {
		byName[h.Source] = h
	}
	var out []Problem
	for _, name := range names {
		h, ok := byName[name]
		if p, bad := problemOf(name, h, ok, now, start, grace, lim); bad {
			out = append(out, p)
		}
	}
	rank := map[ProblemKind]int{ProblemPermanent: 0, ProblemFailing: 1, ProblemNeverPolled: 2, ProblemLagging: 3}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Kind] != rank[out[j].Kind] {
			return rank[out[i].Kind] < rank[out[j].Kind]
		}
		return out[i].Source < out[j].Source
	})
	return out
}

func problemOf(name string, h Health, ok bool, now, start time.Time, grace time.Duration, lim ProblemLimits) (Problem, bool) {
	p := Problem{Source: name}
	switch {
	case h.LastError != "" && h.Permanent:
		p.Kind, p.Since = ProblemPermanent, h.LastSuccess
		p.Summary = fmt.Sprintf("Source %s cannot be read until its configuration or permissions are fixed: %s.", name, h.LastError)
		return p, true
	case h.LastError != "" && !h.LastSuccess.IsZero() && now.Sub(h.LastSuccess) >= lim.Stale:
		p.Kind, p.Since = ProblemFailing, h.LastSuccess
		p.Summary = fmt.Sprintf("Source %s has failed since %s: %s.", name, h.LastSuccess.UTC().Format(time.RFC3339), h.LastError)
		return p, true
	case (!ok || h.LastSuccess.IsZero()) && now.Sub(start) >= grace:
		p.Kind = ProblemNeverPolled
		if h.LastError != "" {
			p.Summary = fmt.Sprintf("Source %s has never been read successfully: %s.", name, h.LastError)
		} else {
			p.Summary = fmt.Sprintf("Source %s has not been polled yet.", name)
		}
		return p, true
	case h.LastError == "" && lim.MaxLag > 0 && !h.LastEvent.IsZero() && now.Sub(h.LastEvent) > lim.MaxLag:
		p.Kind, p.Since = ProblemLagging, h.LastEvent
		p.Summary = fmt.Sprintf("Source %s has read no event newer than %s.", name, h.LastEvent.UTC().Format(time.RFC3339))
		return p, true
	}
	return p, false
}
