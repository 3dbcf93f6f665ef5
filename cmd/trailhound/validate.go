package main

import (
	"fmt"
	"io"
	"os"
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
	names := ""
	for i, n := range notifiers {
		if i > 0 {
			names += ", "
		}
		names += n.Name()
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d sources, %d detectors, notifiers: %s; data in %s)\n", cfg.File, len(srcs), len(a.engine.Detectors()), names, dataDir)
	return exitOK
}
