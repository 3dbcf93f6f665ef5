package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/workflows"
)

const runExamples = `  # run on the embedded demo config (sample logs, alerts to the terminal)
  trailhound run

  # run in production
  trailhound run --config /etc/trailhound/trailhound.yaml

  # poll every source once, deliver alerts, and exit (for cron or CI)
  trailhound run --config trailhound.yaml --once
`

func cmdRun(e *env, args []string) int {
	fs := newFlags(e, "run", "[flags]", runExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	once := fs.Bool("once", false, "poll every source once, deliver the alerts and exit")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if !*once {
		keepRuntimeMemoryLimit(e.getenv)
	}
	// Signals are handled from the start, so a stop during start-up is
	// also orderly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(e, "%v", err)
	}
	// High availability (ha.go): a standby waits here for the lease, then
	// takes over from the newest snapshot; state.restore: auto fills an
	// empty data directory.
	h, err := prepareHA(ctx, e, cfg, *once)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "trailhound: stopped (standby)")
			return exitOK
		}
		return fail(e, "%v", err)
	}
	defer h.release()
	a, err := openApp(e, cfg)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	a.fence = h.fence()
	h.startSnapshots(a)
	srcs, err := a.buildSources(nil)
	if err != nil {
		return fail(e, "%v", err)
	}
	notifiers, err := a.buildNotifiers(e.stdout)
	if err != nil {
		return fail(e, "%v", err)
	}
	if a.wbSender, err = a.buildWriteBackSender(ctx); err != nil {
		return fail(e, "%v", err)
	}
	// The command line's way in while the bot holds the database.
	if err := a.serveAdmin(ctx, notifiers); err != nil {
		return fail(e, "%v", err)
	}
	// Deliver what an earlier run left in the outbox before reading more.
	a.dispatch(ctx, notifiers)

	// The admin listener (metrics, health) starts first, so /readyz says
	// "starting" while the adapters start. Chat adapters register their
	// signed endpoints on the chat listener, which serves nothing else.
	var ready atomic.Bool
	mux := http.NewServeMux()
	stopHTTP, err := a.serveHTTP(mux, func() error { return a.readiness(ready.Load(), notifiers) }, !*once, stop)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer stopHTTP()
	svc := a.botService()
	svc.Activity = a.activityLookup(srcs)
	for _, n := range notifiers {
		if ad, ok := n.(bot.Adapter); ok {
			if err := ad.Start(ctx, svc, mux); err != nil {
				return fail(e, "%s: %v", n.Name(), err)
			}
		}
	}

	// One lock per source so a slow poll is never overlapped by the next.
	var engineMu sync.Mutex
	poll := func(job *workflows.Job, mu *sync.Mutex) {
		if !mu.TryLock() {
			a.log.Warn("previous poll still running; skipped", "source", job.Source.Name())
			return
		}
		defer mu.Unlock()
		// Polls share one detector engine, whose state each poll saves
		// with its own findings. Were two polls to overlap, one could
		// commit state counting the other's events before their findings
		// are stored, and a crash in between would lose those findings.
		// So polls take turns; sources still fetch on their own schedules.
		engineMu.Lock()
		defer engineMu.Unlock()
		// A poll finishes its window even when shutdown starts, so its
		// findings and checkpoint are stored together.
		res, err := job.Run(context.WithoutCancel(ctx))
		if err != nil {
			a.log.Error("poll failed", "source", job.Source.Name(), "err", err)
		}
		if res != nil {
			a.log.Info("polled", "source", res.Source, "events", res.Events, "skipped", res.Skipped, "malformed", res.MalformedCount, "findings", res.FindingCount, "new_alerts", len(res.Ingest.New))
		}
		a.dispatch(ctx, notifiers)
	}
	var jobs []*workflows.Job
	var first sync.WaitGroup // the first polls, which cron does not track
	// A replica that lost its lease starts no scheduled work.
	c := cron.New(cron.WithParser(cronParser{}), cron.WithChain(fenceJobs(a.fence)))
	for _, src := range srcs {
		job := &workflows.Job{Source: src, Detectors: a.engine, Alerts: a.alerts, Sources: a.srcStore, Log: a.log, Stateful: true, Fence: a.fence}
		jobs = append(jobs, job)
		mu := &sync.Mutex{}
		if *once {
			poll(job, mu)
			continue
		}
		// Each source (one per account and region of an entry) has its own
		// cron entry on its config entry's schedule.
		if _, err := c.AddFunc(a.entries[src.Name()].Schedule, func() { poll(job, mu) }); err != nil {
			return fail(e, "source %s: schedule: %v", src.Name(), err)
		}
		first.Add(1)
		go func() { // first poll now, not at the first tick
			defer first.Done()
			poll(job, mu)
		}()
	}
	// Detector checks that need no event (a log source gone silent).
	if err := a.scheduleChecks(ctx, c, notifiers, *once); err != nil {
		return fail(e, "%v", err)
	}
	// Escalations, reminders, digests and the ticketing webhook.
	tick := a.workflowTicker(ctx, notifiers)
	if *once {
		tick()
		h.shutdown()
		return exitOK
	}
	if _, err := c.AddFunc(cfg.Dispatch, func() { a.dispatch(ctx, notifiers) }); err != nil {
		return fail(e, "dispatch schedule: %v", err)
	}
	if _, err := c.AddFunc(a.alerts.Config.TickSchedule, tick); err != nil {
		return fail(e, "workflows tick schedule: %v", err)
	}
	if spec := h.schedule(); spec != "" {
		if _, err := c.AddFunc(spec, func() { h.snapshot(ctx) }); err != nil {
			return fail(e, "state.snapshot.every: %v", err)
		}
	}
	a.log.Info("trailhound running", "config", cfg.File, "sources", len(jobs), "notifiers", len(notifiers))
	c.Start()
	ready.Store(true)
	<-ctx.Done()
	a.log.Info("shutting down: finishing polls in progress")
	<-c.Stop().Done()
	first.Wait()
	// Let chat work already acknowledged (a button press being applied)
	// finish, within reason.
	waited := make(chan struct{})
	go func() {
		for _, n := range notifiers {
			if w, ok := n.(interface{ Wait() }); ok {
				w.Wait()
			}
		}
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		a.log.Warn("chat work still running at shutdown; leaving it")
	}
	// The last snapshot, then the lease goes to a standby.
	h.shutdown()
	fmt.Fprintln(e.stderr, "trailhound: stopped")
	return exitOK
}

// cronParser parses schedules as the config validator does.
type cronParser struct{}

func (cronParser) Parse(spec string) (cron.Schedule, error) { return configs.ParseSchedule(spec) }

// readiness reports why the bot cannot serve yet: still starting, a chat
// platform not reached yet, or the database no longer answers.
func (a *app) readiness(started bool, notifiers []workflows.Notifier) error {
	if !started {
		return fmt.Errorf("starting")
	}
	for _, n := range notifiers {
		if r, ok := n.(interface{ Ready() error }); ok {
			if err := r.Ready(); err != nil {
				return fmt.Errorf("%s: %v", n.Name(), err)
			}
		}
	}
	if _, err := a.alerts.Pending(); err != nil {
		return fmt.Errorf("database: %v", err)
	}
	return nil
}
