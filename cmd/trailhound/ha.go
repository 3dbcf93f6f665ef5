package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/robfig/cron/v3"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/ha"
)

// errStandby is why a standby is not ready, and what chat requests that
// reach it are told.
var errStandby = errors.New("standby: another Trailhound instance is active")

// haRun is the high-availability part of `trailhound run`: the lease it
// holds (nil without ha.lease) and the snapshots it takes (nil without
// state.snapshot.url).
type haRun struct {
	cfg   *ha.Config
	log   *slog.Logger
	guard *ha.Guard
	s3    *s3.Client
	snap  *ha.Snapshotter
	mu    sync.Mutex // one snapshot at a time
	// stopKeep stops renewing the lease.
	stopKeep func()
}

// dbPath is where the config keeps the database.
func dbPath(cfg *configs.Config) string { return filepath.Join(cfg.DataDir, "trailhound.db") }

// prepareHA runs before `run` opens the database. With a lease, it serves
// the standby's answers (/readyz 503, chat requests refused) until this
// instance takes the lease, then restores the newest snapshot over the
// local database. Without one, `state.restore: auto` restores the newest
// snapshot when there is no database yet. Once active, the lease is
// renewed in the background, and losing it stops the process (lostLease).
func prepareHA(ctx context.Context, e *env, cfg *configs.Config, once bool) (*haRun, error) {
	hc, err := ha.DecodeConfig(cfg.State, cfg.HA)
	if err != nil {
		return nil, err
	}
	log := newLogger(e.stderr, cfg)
	h := &haRun{cfg: hc, log: log, stopKeep: func() {}}
	if s := hc.State.Snapshot; s.URL != "" {
		if h.s3, err = ha.NewS3Client(ctx, s.Region, s.EndpointURL); err != nil {
			return nil, err
		}
	}
	if hc.HA.Lease == "" {
		if hc.State.Restore == "auto" {
			if _, err := os.Stat(dbPath(cfg)); errors.Is(err, os.ErrNotExist) {
				if err := h.restoreNewest(ctx, dbPath(cfg)); err != nil {
					return nil, err
				}
			}
		}
		return h, nil
	}
	if once {
		return nil, fmt.Errorf("ha.lease: run --once does not take part in high availability (it would poll beside the active instance); remove ha.lease from this config or run without --once")
	}
	holder := hc.HA.Holder
	if holder == "" {
		holder = ha.DefaultHolder()
	}
	lease, err := ha.NewLease(ctx, hc.HA)
	if err != nil {
		return nil, err
	}
	if err := checkRunnable(e, cfg); err != nil {
		return nil, err
	}
	h.guard = &ha.Guard{Lease: lease, Holder: holder, Renew: hc.HA.Renew.D(), TTL: hc.HA.TTL.D(), Log: log}
	stop, err := serveStandby(cfg, log)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	grant, err := h.guard.Wait(ctx)
	stop()
	if err != nil {
		return nil, err
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.stopKeep = cancel
	go h.guard.Keep(kctx, lostLease(e))
	// Take over from the newest snapshot: the state the last active
	// instance left, whatever this host's disk holds.
	if err := h.restoreNewest(ctx, dbPath(cfg)); err != nil {
		h.release()
		return nil, err
	}
	log.Info("active: took over", "epoch", grant.Epoch, "waited", time.Since(started).Round(time.Millisecond))
	return h, nil
}

// restoreNewest restores the newest snapshot that passes its checks to
// path, falling back to older ones; no snapshot at all is not an error
// (a first start).
func (h *haRun) restoreNewest(ctx context.Context, path string) error {
	s := h.cfg.State.Snapshot
	all, err := ha.List(ctx, h.s3, s.Bucket, s.Prefix)
	if err != nil {
		return fmt.Errorf("state.snapshot.url: %w", err)
	}
	if len(all) == 0 {
		h.log.Info("no snapshot to restore: starting from the local state", "url", s.URL)
		return nil
	}
	started := time.Now()
	for i := len(all) - 1; i >= 0; i-- {
		info, err := ha.Restore(ctx, h.s3, ha.RestoreOptions{Bucket: s.Bucket, Prefix: s.Prefix, At: all[i].Time, Path: path, Force: true})
		if err == nil {
			h.log.Info("restored snapshot", "key", info.Key, "taken", info.Time, "bytes", info.DBSize, "took", time.Since(started).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		h.log.Error("snapshot not restored; trying the one before", "key", all[i].Key, "err", err)
	}
	return fmt.Errorf("state.snapshot.url: none of the %d snapshots in %s could be restored (see the errors above)", len(all), s.URL)
}

// lostLease stops the process at once when the lease is lost: the fences
// already refuse every commit and post, and exiting leaves no goroutine
// that could try. A supervisor restarts it, as a standby.
func lostLease(e *env) func(error) {
	return func(err error) {
		fmt.Fprintf(e.stderr, "trailhound: %v: another instance is active; stopping without writing or posting anything more\n", err)
		os.Exit(exitError)
	}
}

// checkRunnable builds what the config describes on a scratch data
// directory, as validate does, so a standby with a broken config fails
// at start instead of at takeover.
func checkRunnable(e *env, cfg *configs.Config) error {
	dir, err := os.MkdirTemp("", "trailhound-standby-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c := *cfg
	c.DataDir = dir
	quiet := &env{stdout: io.Discard, stderr: io.Discard, getenv: e.getenv}
	a, err := openApp(quiet, &c)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.buildSources(nil); err != nil {
		return err
	}
	_, err = a.buildNotifiers(io.Discard)
	return err
}

// fenceJobs wraps every scheduled job of `run` so that it does not start
// once the lease is lost.
func fenceJobs(fence func() error) cron.JobWrapper {
	return func(j cron.Job) cron.Job {
		if fence == nil {
			return j
		}
		return cron.FuncJob(func() {
			if fence() != nil {
				return
			}
			j.Run()
		})
	}
}

// serveStandby answers on the admin and chat addresses while this
// instance is a standby: /readyz is 503, so a load balancer sends chat to
// the active instance, and a chat request that arrives all the same is
// told that another instance is active.
func serveStandby(cfg *configs.Config, log *slog.Logger) (stop func(), err error) {
	var started []*listener
	stop = func() {
		for _, l := range started {
			l.close()
		}
	}
	if addr, named := cfg.HTTP.Admin(); addr != "" {
		l, err := serve(adminHTTPServer(func() error { return errStandby }), addr, log, nil)
		switch {
		case err != nil && named:
			return stop, fmt.Errorf("http.admin_listen: %w", err)
		case err != nil:
			log.Error("admin listener (metrics, health) not started", "addr", addr, "err", err)
		default:
			started = append(started, l)
		}
	}
	if cfg.HTTP.Listen != "" {
		refuse := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "Another Trailhound instance is active; this one is a standby. Send chat requests to the active instance (health: /readyz).", http.StatusServiceUnavailable)
		})
		l, err := serve(chatServer(cfg.HTTP, refuse), cfg.HTTP.Listen, log, nil)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("http.listen: %w", err)
		}
		started = append(started, l)
	}
	return stop, nil
}

// fence is the check every commit and post of `run` makes: nil without a
// lease.
func (h *haRun) fence() func() error {
	if h == nil || h.guard == nil {
		return nil
	}
	return h.guard.Fence
}

// startSnapshots makes the snapshotter for the open database, if
// snapshots are on.
func (h *haRun) startSnapshots(a *app) {
	s := h.cfg.State.Snapshot
	if s.URL == "" {
		return
	}
	h.snap = &ha.Snapshotter{S3: h.s3, Bucket: s.Bucket, Prefix: s.Prefix, Keep: s.Keep, DB: a.db, Fence: h.fence(), Log: a.log}
	if h.guard != nil {
		h.snap.Epoch = h.guard.Epoch
	}
}

// schedule is the cron schedule of the snapshots, "" when they are off.
func (h *haRun) schedule() string {
	if h.snap == nil {
		return ""
	}
	return "@every " + h.cfg.State.Snapshot.Every.D().String()
}

// snapshot takes one snapshot, unless one is under way.
func (h *haRun) snapshot(ctx context.Context) {
	if h.snap == nil || !h.mu.TryLock() {
		return
	}
	defer h.mu.Unlock()
	if _, err := h.snap.Take(ctx); err != nil {
		h.log.Error("snapshot failed", "url", h.cfg.State.Snapshot.URL, "err", err)
	}
}

// shutdown takes the last snapshot and gives the lease up, so a standby
// takes over at once from the latest state.
func (h *haRun) shutdown() {
	if h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if h.snap != nil {
		h.mu.Lock()
		if _, err := h.snap.Take(ctx); err != nil {
			h.log.Error("last snapshot at shutdown failed", "url", h.cfg.State.Snapshot.URL, "err", err)
		}
		h.mu.Unlock()
	}
	h.release()
}

func (h *haRun) release() {
	if h.guard == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.stopKeep()
	if err := h.guard.Release(ctx); err != nil {
		h.log.Warn("lease not released; a standby takes over when it expires", "err", err)
	}
}
