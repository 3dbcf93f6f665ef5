package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/ha"
)

const restoreExamples = `  # restore the newest snapshot of the config's state.snapshot.url
  trailhound restore --config trailhound.yaml

  # the state as it was at 09:00 UTC, over the existing database
  trailhound restore --config trailhound.yaml --at 2026-12-06T09:00:00Z --force

  # from another place, or as it was two hours ago
  trailhound restore --config trailhound.yaml --from s3://backups/trailhound/prod --at 2h
`

func cmdRestore(e *env, args []string) int {
	fs := newFlags(e, "restore", "[flags]", restoreExamples)
	cfgPath := fs.String("config", "", "config `file` whose data_dir receives the database (default: the embedded demo config)")
	from := fs.String("from", "", "the `s3://bucket/prefix` the snapshots are in (default: the config's state.snapshot.url)")
	at := fs.String("at", "", "restore the newest snapshot taken at or before `TIME` (RFC 3339, or a duration ago such as 2h)")
	force := fs.Bool("force", false, "replace an existing database")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return fail(e, "restore takes no arguments (got %q)", fs.Arg(0))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(e, "%v", err)
	}
	hc, err := ha.DecodeConfig(cfg.State, cfg.HA)
	if err != nil {
		return fail(e, "%v", err)
	}
	snap := hc.State.Snapshot
	url := snap.URL
	if *from != "" {
		url = *from
	}
	if url == "" {
		return fail(e, "no snapshots to restore from: give --from s3://bucket/prefix, or set state.snapshot.url in %s", cfg.File)
	}
	bucket, prefix, err := ha.ParseS3URL(url)
	if err != nil {
		return fail(e, "--from: %v", err)
	}
	when, err := parseAt(*at, time.Now())
	if err != nil {
		return fail(e, "--at: %v", err)
	}
	path := dbPath(cfg)
	if err := checkNotInUse(cfg, path); err != nil {
		return fail(e, "%v", err)
	}
	client, err := ha.NewS3Client(ctx, snap.Region, snap.EndpointURL)
	if err != nil {
		return fail(e, "%v", err)
	}
	started := time.Now()
	info, err := ha.Restore(ctx, client, ha.RestoreOptions{Bucket: bucket, Prefix: prefix, At: when, Path: path, Force: *force})
	if err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintf(e.stdout, "restored s3://%s/%s (taken %s, %s database, checksum verified) to %s in %s\n",
		bucket, info.Key, info.Time.Format(time.RFC3339), byteSize(info.DBSize), path, time.Since(started).Round(time.Millisecond))
	fmt.Fprintln(e.stdout, "sources re-read from the snapshot's checkpoints at the next run; events and alerts already handled are skipped")
	return exitOK
}

// parseAt reads --at: empty, an RFC 3339 time, or a duration before now.
func parseAt(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, err := configs.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a time (2026-12-06T09:00:00Z) nor a duration ago (2h)", s)
}

// checkNotInUse refuses to restore under a running bot: its database is
// locked.
func checkNotInUse(cfg *configs.Config, path string) error {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("database %s is in use by a running trailhound: stop it before restoring", path)
	}
	if err == nil {
		db.Close()
	}
	return nil
}

// byteSize formats a size for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
