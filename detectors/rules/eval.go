package rules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/file"
)

// This file measures a rule pack against labelled data: Stratus Red Team
// detonation logs (every event is attack activity of the technique named by
// its file) and the background of the Invictus dataset (records without the
// Stratus user agent marker). `trailhound rules eval` and the tests in this
// package print and assert the figures.

// Coverage is how a pack did on one attack technique's events.
type Coverage struct {
	// Technique is the Stratus Red Team technique id, the file name.
	Technique string
	Events    int
	Findings  int
	// Rules are the ids of the rules that fired, sorted.
	Rules []string
}

// Detected reports whether any rule fired on the technique.
func (c Coverage) Detected() bool { return c.Findings > 0 }

// NewEngine builds a fresh engine (with empty state) for one evaluation
// run.
type NewEngine func() (*detectors.Engine, error)

// EvalStratus runs a fresh engine over each *.json detonation log in dir,
// in file order, and reports which techniques it detected.
func EvalStratus(ctx context.Context, dir string, newEngine NewEngine) ([]Coverage, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("eval: no detonation logs (*.json) in %s", dir)
	}
	sort.Strings(files)
	var out []Coverage
	for _, f := range files {
		eng, err := newEngine()
		if err != nil {
			return nil, err
		}
		c := Coverage{Technique: strings.TrimSuffix(filepath.Base(f), ".json")}
		fired := map[string]bool{}
		err = replay(ctx, f, func(ev *sources.Event) error {
			c.Events++
			fs, err := eng.Detect(ctx, ev)
			for _, fi := range fs {
				c.Findings++
				fired[fi.RuleID] = true
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		for id := range fired {
			c.Rules = append(c.Rules, id)
		}
		sort.Strings(c.Rules)
		out = append(out, c)
	}
	return out, nil
}

// NoiseAlert is one alert a pack raised on background events: the findings
// sharing a group key, as the workflow folds them.
type NoiseAlert struct {
	RuleID    string
	Title     string
	Severity  detectors.Severity
	Principal string
	// Count is how many findings the alert holds.
	Count int
	// Reason is the first finding's reason.
	Reason string
}

// Noise is what a pack raised on background events.
type Noise struct {
	Events   int
	Findings int
	// Alerts are the distinct group keys among the findings, ordered by
	// rule id: within the workflow's group window (the datasets span less
	// than one), each is exactly one alert.
	Alerts []NoiseAlert
	// All holds every finding, for callers that store them.
	All []detectors.Finding
}

// NotStratus keeps events whose user agent lacks the Stratus Red Team
// marker: the background of the Invictus dataset.
func NotStratus(ev *sources.Event) bool {
	return !strings.Contains(ev.UserAgent, "stratus-red-team")
}

// EvalBackground runs a fresh engine over the events of path that keep
// selects, and reports the alerts raised.
func EvalBackground(ctx context.Context, path string, newEngine NewEngine, keep func(*sources.Event) bool) (Noise, error) {
	var n Noise
	eng, err := newEngine()
	if err != nil {
		return n, err
	}
	byKey := map[string]*NoiseAlert{}
	err = replay(ctx, path, func(ev *sources.Event) error {
		if keep != nil && !keep(ev) {
			return nil
		}
		n.Events++
		fs, err := eng.Detect(ctx, ev)
		for _, f := range fs {
			n.Findings++
			n.All = append(n.All, f)
			a := byKey[f.GroupKey]
			if a == nil {
				a = &NoiseAlert{RuleID: f.RuleID, Title: f.Title, Principal: f.Principal.Name, Reason: f.Reason}
				byKey[f.GroupKey] = a
			}
			a.Count++
			if f.Severity > a.Severity {
				a.Severity = f.Severity
			}
		}
		return err
	})
	if err != nil {
		return n, err
	}
	for _, a := range byKey {
		n.Alerts = append(n.Alerts, *a)
	}
	sort.Slice(n.Alerts, func(i, j int) bool {
		if n.Alerts[i].RuleID != n.Alerts[j].RuleID {
			return n.Alerts[i].RuleID < n.Alerts[j].RuleID
		}
		return n.Alerts[i].Principal < n.Alerts[j].Principal
	})
	return n, nil
}

// replay reads a file with the file source, as the bot would, and calls fn
// for each event. A malformed record is an error: the datasets are clean.
func replay(ctx context.Context, path string, fn func(*sources.Event) error) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	src, err := file.New("eval", file.Options{Paths: []string{path}, Rescan: true}, nil)
	if err != nil {
		return err
	}
	var bad []string
	_, err = src.Fetch(ctx, nil, sources.FuncSink{
		OnEvent:     func(_ context.Context, ev *sources.Event) error { return fn(ev) },
		OnMalformed: func(m sources.Malformed) { bad = append(bad, m.String()) },
	})
	if err != nil {
		return fmt.Errorf("eval: %s: %w", path, err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("eval: %s: %d malformed records, first: %s", path, len(bad), bad[0])
	}
	return nil
}
