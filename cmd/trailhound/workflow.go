package main

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/workflows"
)

// workflowNotifiers are the notifier names routes, escalation levels and
// digests may target.
func workflowNotifiers() []string {
	names := append([]string{"discord", "slack", "terminal"}, sortedKeys(notifierKinds)...)
	slices.Sort(names)
	return slices.Compact(names)
}

// loadWorkflows decodes the workflows section of the config.
func loadWorkflows(cfg *configs.Config) (*workflows.Config, error) {
	return workflows.LoadConfig(cfg.Workflows, workflowNotifiers())
}

// digestText renders the review digest of the last period for chat.
func (a *app) digestText(_ context.Context, since time.Duration) (string, error) {
	d, err := a.digest(since, a.now())
	if err != nil {
		return "", err
	}
	return d.Text(), nil
}

// digest builds the review digest of the period ending at until.
func (a *app) digest(since time.Duration, until time.Time) (workflows.Digest, error) {
	health, err := a.srcStore.Health()
	if err != nil {
		a.log.Warn("digest: read source health", "err", err)
	}
	return a.alerts.BuildDigest(workflows.DigestOptions{Since: until.Add(-since), Until: until, Health: health})
}

// workflowTicker returns the periodic workflow step of `trailhound run`:
// fire due escalations and ask-the-actor timeouts, send task reminders,
// queue scheduled digests, deliver the ticketing webhook queue, then the
// outbox. Overlapping calls are skipped.
func (a *app) workflowTicker(ctx context.Context, notifiers []workflows.Notifier) func() {
	esc := &workflows.Escalator{Store: a.alerts, Log: a.log}
	rem := &workflows.Reminder{Store: a.alerts}
	dig := &workflows.DigestScheduler{Store: a.alerts, Health: a.srcStore.Health, Log: a.log}
	hook := &workflows.WebhookSender{Store: a.alerts, Log: a.log}
	var mu sync.Mutex
	return func() {
		if !mu.TryLock() {
			a.log.Warn("previous workflow tick still running; skipped")
			return
		}
		defer mu.Unlock()
		// With ha.lease, each step checks that this instance still holds
		// the lease (ha.go): one that lost it stops mid-tick.
		fenced := func() bool { return a.fence != nil && a.fence() != nil }
		if fenced() {
			return
		}
		now := a.now()
		if n, err := esc.Tick(now); err != nil {
			a.log.Error("escalation tick", "err", err)
		} else if n > 0 {
			a.log.Info("escalated alerts", "count", n)
		}
		if fenced() {
			return
		}
		if n, err := rem.Tick(now); err != nil {
			a.log.Error("reminder tick", "err", err)
		} else if n > 0 {
			a.log.Info("task reminders queued", "count", n)
		}
		if fenced() {
			return
		}
		if n, err := dig.Tick(now); err != nil {
			a.log.Error("digest tick", "err", err)
		} else if n > 0 {
			a.log.Info("digests queued", "count", n)
		}
		if fenced() {
			return
		}
		if _, err := hook.Send(ctx); err != nil {
			a.log.Error("ticketing webhook", "err", err)
		}
		a.dispatch(ctx, notifiers)
		// After the outbox, so cards just posted are reported in the same
		// tick.
		if a.wbSender != nil && !fenced() {
			if _, err := a.wbSender.Send(ctx); err != nil {
				a.log.Error("write-back to AWS", "err", err)
			}
		}
	}
}
