package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/bot/terminal"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/external"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/file"
	"github.com/trailhound/trailhound/workflows"
	"github.com/trailhound/trailhound/workflows/securityhub"
)

// sourceKinds maps a source type to its constructor: adding a log source is
// one line here. A constructor may return several sources for one entry
// (one per AWS account and region), each polled on the entry's schedule.
var sourceKinds = map[string]func(a *app, sc configs.SourceConfig) ([]sources.Source, error){
	"file":         single(newFileSource),
	"cloudtrail":   newCloudTrailSources,
	"cloudwatch":   newCloudWatchSources,
	"s3":           newS3Sources,
	"aws-findings": newAWSFindingsSources,
	"athena":       newAthenaSources,
}

// detectorsConfig is the detectors section of the config file: a list of
// detector ids to turn off, and one subsection per detector kind.
type detectorsConfig struct {
	// Disable lists detector ids to turn off.
	Disable []string `yaml:"disable"`
	// Rules configures the rule pack (see rules.go).
	Rules configs.Section `yaml:"rules"`
	// Anomaly configures the baseline detectors (see anomaly.go).
	Anomaly configs.Section `yaml:"anomaly"`
}

// detectorKinds builds each kind of detector from its subsection of the
// detectors config: adding a detector package is one field above and one
// line here.
var detectorKinds = []struct {
	name    string
	section func(c *detectorsConfig) configs.Section
	build   func(a *app, sec configs.Section) ([]detectors.Detector, error)
}{
	{"rules", func(c *detectorsConfig) configs.Section { return c.Rules }, buildRules},
	{"anomaly", func(c *detectorsConfig) configs.Section { return c.Anomaly }, buildAnomaly},
	// The adapter of AWS security findings has no settings: the
	// aws-findings source's filter selects the findings.
	{"aws-findings", func(*detectorsConfig) configs.Section { return configs.Section{} }, buildExternal},
}

// buildDetectors decodes the detectors section and builds every detector,
// with state loaded from the database, minus the disabled ones.
func (a *app) buildDetectors() (*detectors.Engine, error) {
	var dc detectorsConfig
	if err := a.cfg.Detectors.Decode(&dc); err != nil {
		return nil, err
	}
	var all []detectors.Detector
	for _, k := range detectorKinds {
		ds, err := k.build(a, k.section(&dc))
		if err != nil {
			return nil, err
		}
		all = append(all, ds...)
	}
	known := map[string]bool{}
	for _, d := range all {
		known[d.ID()] = true
	}
	off := map[string]bool{}
	for _, id := range dc.Disable {
		if !known[id] {
			return nil, a.cfg.Detectors.Errorf("disable", "unknown detector %q", id)
		}
		off[id] = true
	}
	var on []detectors.Detector
	for _, d := range all {
		if !off[d.ID()] {
			on = append(on, d)
		}
	}
	return detectors.NewEngine(on...), nil
}

// notifierKinds maps a notify section to its constructor: adding a chat
// platform is one line here. A constructor returns nil when its section is
// absent.
var notifierKinds = map[string]func(a *app, sec configs.Section) (workflows.Notifier, error){
	"discord": newDiscordNotifier,
	"slack":   newSlackNotifier,
}

// notifySection returns the config section of a notifier kind.
func notifySection(cfg *configs.Config, kind string) configs.Section {
	switch kind {
	case "slack":
		return cfg.Notify.Slack
	case "discord":
		return cfg.Notify.Discord
	}
	return configs.Section{}
}

// app is the wired-up bot: one database shared by every package.
type app struct {
	env      *env
	cfg      *configs.Config
	log      *slog.Logger
	db       *bolt.DB
	alerts   *workflows.Store
	srcStore *sources.Store
	engine   *detectors.Engine
	now      func() time.Time
	// entries maps each built source's name to its config entry, whose
	// schedule it is polled on; buildSources fills it.
	entries map[string]configs.SourceConfig
	// readOnly is set when the database was opened read-only: there is no
	// detector engine, and writes fail.
	readOnly bool
	// borrowed is set on the running bot's app lent to a command that came
	// over the admin socket: Close leaves the database open.
	borrowed bool
	// admin is the admin socket server of `trailhound run`, if started.
	admin *adminServer
	// fence, set by `trailhound run` with ha.lease, says whether this
	// instance still holds the lease; polls and posts check it (ha.go).
	fence func() error
	// writeBack is the securityhub section: the write-back of decisions
	// about AWS findings (writeback.go); wbSender, set by `trailhound
	// run` when it is on, sends them on the workflow tick.
	writeBack securityhub.Options
	wbSender  *workflows.WriteBackSender
}

// access says whether a command writes to the database.
type access int

const (
	// readOnly commands open the database read-only, beside other readers.
	readOnly access = iota
	// readWrite commands open it alone, with the detectors.
	readWrite
)

// loadConfig loads the config at path, or the embedded demo when empty.
func loadConfig(path string) (*configs.Config, error) {
	return configs.Load(path)
}

// loadApp loads the config at path (the embedded demo config when empty)
// and opens the app on it: read-only for commands that only read. A
// command that came over the admin socket gets the running bot's app.
func loadApp(e *env, path string, acc access) (*app, error) {
	if e.bot != nil {
		lent := *e.bot
		lent.env, lent.borrowed, lent.entries, lent.admin = e, true, nil, nil
		lent.log = newLogger(e.stderr, lent.cfg)
		return &lent, nil
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	if acc == readOnly {
		return openAppReadOnly(e, cfg)
	}
	return openApp(e, cfg)
}

// openAppReadOnly opens the database read-only, so that several readers
// may share it and none can change it. A database that does not exist yet
// or was never prepared is opened read-write instead, to prepare it.
func openAppReadOnly(e *env, cfg *configs.Config) (*app, error) {
	path := filepath.Join(cfg.DataDir, "trailhound.db")
	if _, err := os.Stat(path); err != nil {
		return openApp(e, cfg)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		return nil, openError(cfg, path, err)
	}
	a := &app{env: e, cfg: cfg, log: newLogger(e.stderr, cfg), now: time.Now, db: db, readOnly: true}
	if a.alerts, err = workflows.OpenReadOnly(db); err == nil {
		a.srcStore, err = sources.OpenReadOnly(db)
	}
	if errors.Is(err, workflows.ErrNotInitialized) || errors.Is(err, sources.ErrNotInitialized) {
		db.Close()
		return openApp(e, cfg)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if a.alerts.Config, err = loadWorkflows(cfg); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.loadWriteBack(); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// openError explains why the database could not be opened.
func openError(cfg *configs.Config, path string, err error) error {
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		if botAnswers(cfg) {
			return fmt.Errorf("database %s is held by the running bot (trailhound run): this command needs it alone, so stop the bot first (findings, sources, tasks, digest, task, ack, resolve and silence go through the bot)", path)
		}
		return fmt.Errorf("database %s is in use by another trailhound process", path)
	case errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch):
		return fmt.Errorf("database %s is corrupt or not a Trailhound database (%v); it was left untouched: restore it from a backup, or move it aside to start with empty state", path, err)
	}
	return fmt.Errorf("open database %s: %w", path, err)
}

func newLogger(w io.Writer, cfg *configs.Config) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.Log.Level]
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openApp opens the database and builds the detectors.
func openApp(e *env, cfg *configs.Config) (*app, error) {
	a := &app{env: e, cfg: cfg, log: newLogger(e.stderr, cfg), now: time.Now}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(cfg.DataDir, "trailhound.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, openError(cfg, path, err)
	}
	a.db = db
	if a.alerts, err = workflows.NewStore(db); err != nil {
		db.Close()
		return nil, err
	}
	if a.alerts.Config, err = loadWorkflows(cfg); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.loadWriteBack(); err != nil {
		db.Close()
		return nil, err
	}
	if a.srcStore, err = sources.NewStore(db); err != nil {
		db.Close()
		return nil, err
	}
	if a.engine, err = a.buildDetectors(); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// Close stops the admin socket, if any, and closes the database, unless
// the app is the bot's, lent to a command.
func (a *app) Close() error {
	if a.borrowed {
		return nil
	}
	a.admin.stop()
	return a.db.Close()
}

// buildSources builds the configured sources, or only the named ones: a
// name selects a config entry with all its sources, or one source of an
// entry (prod-ct/123456789012/eu-west-1).
func (a *app) buildSources(only []string) ([]sources.Source, error) {
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	if a.entries == nil {
		a.entries = map[string]configs.SourceConfig{}
	}
	var out []sources.Source
	for _, sc := range a.cfg.Sources {
		if len(only) > 0 && !want[sc.Name] && !wantsPart(want, sc.Name) {
			continue
		}
		all := len(only) == 0 || want[sc.Name]
		delete(want, sc.Name)
		srcs, err := buildSource(a, sc)
		if err != nil {
			return nil, err
		}
		for _, s := range srcs {
			if !all && !want[s.Name()] {
				continue
			}
			delete(want, s.Name())
			a.entries[s.Name()] = sc
			out = append(out, s)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("no source named %q in %s", n, a.cfg.File)
	}
	return out, nil
}

// wantsPart reports whether a wanted name is one source of the entry.
func wantsPart(want map[string]bool, entry string) bool {
	for n := range want {
		if strings.HasPrefix(n, entry+"/") {
			return true
		}
	}
	return false
}

// buildExternal builds the adapter detector of AWS security findings.
func buildExternal(*app, configs.Section) ([]detectors.Detector, error) {
	return []detectors.Detector{external.New()}, nil
}

// single adapts a constructor of one source to sourceKinds.
func single(mk func(a *app, sc configs.SourceConfig) (sources.Source, error)) func(a *app, sc configs.SourceConfig) ([]sources.Source, error) {
	return func(a *app, sc configs.SourceConfig) ([]sources.Source, error) {
		s, err := mk(a, sc)
		if err != nil {
			return nil, err
		}
		return []sources.Source{s}, nil
	}
}

func buildSource(a *app, sc configs.SourceConfig) ([]sources.Source, error) {
	mk, ok := sourceKinds[sc.Type]
	if !ok {
		return nil, sc.Errorf(a.cfg.File, "type", "unknown source type %q (want one of %s)", sc.Type, kindNames(sourceKinds))
	}
	return mk(a, sc)
}

func newFileSource(a *app, sc configs.SourceConfig) (sources.Source, error) {
	var opts file.Options
	if err := sc.Options.Decode(&opts); err != nil {
		return nil, err
	}
	if len(opts.Paths) == 0 {
		return nil, sc.Errorf(a.cfg.File, "options.paths", "at least one path is required")
	}
	for i, p := range opts.Paths {
		opts.Paths[i] = a.cfg.ResolvePath(p)
	}
	return file.New(sc.Name, opts, a.cfg.FS)
}

// buildNotifiers returns the chat notifiers configured, plus the terminal
// when it is on ("auto": when no chat notifier is configured).
func (a *app) buildNotifiers(stdout io.Writer) ([]workflows.Notifier, error) {
	if a.cfg.File == configs.DemoName {
		if err := checkDemoChatEnv(a.env.getenv); err != nil {
			return nil, err
		}
	}
	var out []workflows.Notifier
	for _, kind := range sortedKeys(notifierKinds) {
		n, err := notifierKinds[kind](a, notifySection(a.cfg, kind))
		if err != nil {
			return nil, err
		}
		if n != nil {
			out = append(out, n)
		}
	}
	term := a.cfg.Notify.Terminal
	if term == "true" || term == "auto" && len(out) == 0 {
		out = append(out, terminal.New(stdout, colorOK(stdout, a.env)))
	}
	return out, nil
}

// colorOK reports whether w is a terminal that wants colour.
func colorOK(w io.Writer, e *env) bool {
	if e.getenv("NO_COLOR") != "" || e.getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// botService is the chat core shared by the Slack and Discord adapters.
func (a *app) botService() *bot.Service {
	return &bot.Service{Store: a.alerts, Health: a.srcStore.Health, Digest: a.digestText, Now: a.now, Log: a.log, Fence: a.fence}
}

// dispatch delivers the outbox, logging what could not be delivered.
func (a *app) dispatch(ctx context.Context, notifiers []workflows.Notifier) {
	d := &workflows.Dispatcher{Store: a.alerts, Notifiers: notifiers, Log: a.log, Fence: a.fence}
	if _, err := d.Dispatch(ctx); err != nil {
		if ctx.Err() != nil {
			// Shutting down: what is left stays in the outbox and is
			// delivered at the next start.
			a.log.Info("stopping: undelivered alerts stay in the outbox for the next start")
			return
		}
		a.log.Error("dispatch alerts", "err", err)
	}
}

// inputSources returns what a one-shot command reads: the files and
// directories named on its command line, or else the configured sources
// (only those named with --source, when given).
func (a *app) inputSources(paths, only []string) ([]sources.Source, error) {
	if len(paths) == 0 {
		return a.buildSources(only)
	}
	if len(only) > 0 {
		return nil, fmt.Errorf("give either paths or --source, not both")
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	s, err := file.New("files", file.Options{Paths: paths, Rescan: true}, nil)
	if err != nil {
		return nil, err
	}
	return []sources.Source{s}, nil
}
