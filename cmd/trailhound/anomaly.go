package main

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/anomaly"
	"github.com/trailhound/trailhound/workflows"
)

// buildAnomaly builds the baseline detectors (detectors.anomaly) with
// their state loaded from the database. Their GeoIP databases stay open
// for the life of the process.
func buildAnomaly(a *app, sec configs.Section) ([]detectors.Detector, error) {
	s, err := newAnomalySuite(a, sec)
	if err != nil {
		return nil, err
	}
	return s.Detectors(), nil
}

// newAnomalySuite decodes the detectors.anomaly section, resolving GeoIP
// database paths against the config file's directory.
func newAnomalySuite(a *app, sec configs.Section) (*anomaly.Suite, error) {
	cfg, err := anomaly.Decode(sec)
	if err != nil {
		return nil, err
	}
	if p := cfg.GeoIP.CityDatabase; p != "" {
		cfg.GeoIP.CityDatabase = a.cfg.ResolvePath(p)
	}
	if p := cfg.GeoIP.ASNDatabase; p != "" {
		cfg.GeoIP.ASNDatabase = a.cfg.ResolvePath(p)
	}
	return anomaly.New(a.db, cfg, anomaly.Options{Log: a.log, Now: a.now})
}

// scheduleChecks runs the periodic checks of detectors that have one (a
// log source gone silent): on each check's schedule in c, or once now when
// once is set, after the polls.
func (a *app) scheduleChecks(ctx context.Context, c *cron.Cron, notifiers []workflows.Notifier, once bool) error {
	for _, d := range a.engine.Detectors() {
		ck, ok := d.(anomaly.Checker)
		if !ok {
			continue
		}
		if once {
			// The polls are done: no start-up grace is needed.
			if g, ok := ck.(interface{ SetGrace(time.Duration) }); ok {
				g.SetGrace(0)
			}
			a.runCheck(ctx, ck, notifiers)
			continue
		}
		if _, err := c.AddFunc(ck.Schedule(), func() { a.runCheck(ctx, ck, notifiers) }); err != nil {
			return fmt.Errorf("detector %s: check schedule: %w", ck.ID(), err)
		}
	}
	return nil
}

// runCheck stores what one check found, as a poll stores its findings,
// and delivers new alerts.
func (a *app) runCheck(ctx context.Context, ck anomaly.Checker, notifiers []workflows.Notifier) {
	fs := ck.Check(ctx, a.now())
	if len(fs) == 0 {
		return
	}
	var res workflows.IngestResult
	err := a.db.Update(func(tx *bolt.Tx) error {
		var err error
		res, err = a.alerts.Ingest(tx, fs)
		return err
	})
	if err != nil {
		a.log.Error("store check findings", "detector", ck.ID(), "err", err)
		return
	}
	a.log.Info("checked", "detector", ck.ID(), "findings", len(fs), "new_alerts", len(res.New))
	a.dispatch(ctx, notifiers)
}
