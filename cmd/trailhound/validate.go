package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trailhound/trailhound/ha"
)

func cmdValidate(e *env, args []string) int {
	fs := newFlags(e, "validate", "[flags] [CONFIG]", `  trailhound validate trailhound.yaml
  trailhound validate --config configs/example.yaml
`)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 1 {
		return fail(e, "validate takes one config file")
	}
	if fs.NArg() == 1 {
		*cfgPath = fs.Arg(0)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(e, "%v", err)
	}
	if _, err := ha.DecodeConfig(cfg.State, cfg.HA); err != nil {
		return fail(e, "%v", err)
	}
	// Build everything the config describes, without touching the real data
	// directory or the network.
	dir, err := os.MkdirTemp("", "trailhound-validate-")
	if err != nil {
		return fail(e, "%v", err)
	}
	defer os.RemoveAll(dir)
	dataDir := cfg.DataDir
	cfg.DataDir = dir
	a, err := openApp(e, cfg)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer a.Close()
	srcs, err := a.buildSources(nil)
	if err != nil {
		return fail(e, "%v", err)
	}
	notifiers, err := a.buildNotifiers(io.Discard)
	if err != nil {
		return fail(e, "%v", err)
	}
	if _, err := a.buildWriteBackSender(context.Background()); err != nil {
		return fail(e, "%v", err)
	}
	failed := checkSources(srcs)
	for _, name := range sortedKeys(failed) {
		for _, line := range strings.Split(failed[name].Error(), "\n") {
			fmt.Fprintf(e.stderr, "warning: source %s: %s\n", name, strings.TrimPrefix(line, "file source \""+name+"\": "))
		}
	}
	names := ""
	for i, n := range notifiers {
		if i > 0 {
			names += ", "
		}
		names += n.Name()
	}
	status := "ok"
	if len(failed) > 0 {
		status = fmt.Sprintf("ok, with %s (see the warnings above)", plural(len(failed), "warning"))
	}
	fmt.Fprintf(e.stdout, "%s: %s (%s, %s, notifiers: %s; data in %s)\n", cfg.File, status, plural(len(srcs), "source"), plural(len(a.engine.Detectors()), "detector"), names, dataDir)
	return exitOK
}
