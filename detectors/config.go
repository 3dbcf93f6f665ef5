package detectors

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/configs"
)

// Config is the detectors section of the config file.
type Config struct {
	// Disable lists detector ids to turn off.
	Disable []string `yaml:"disable"`
	// FailedSignins tunes the failed console sign-in burst detector.
	FailedSignins struct {
		// Threshold is how many failures from one address fire (default 5).
		Threshold int `yaml:"threshold"`
		// Window is the sliding window (default 10m).
		Window configs.Duration `yaml:"window"`
	} `yaml:"failed_signins"`
}

// Build decodes the detectors section and returns the engine, with the
// state of stateful detectors loaded from db.
func Build(sec configs.Section, db *bolt.DB) (*Engine, error) {
	var cfg Config
	if err := sec.Decode(&cfg); err != nil {
		return nil, err
	}
	failed, err := NewFailedSignins(db, cfg.FailedSignins.Threshold, cfg.FailedSignins.Window.D())
	if err != nil {
		return nil, err
	}
	all := []Detector{RootUse{}, ConsoleNoMFA{}, failed}
	known := map[string]bool{}
	for _, d := range all {
		known[d.ID()] = true
	}
	off := map[string]bool{}
	for _, id := range cfg.Disable {
		if !known[id] {
			return nil, sec.Errorf("disable", "unknown detector %q", id)
		}
		off[id] = true
	}
	var on []Detector
	for _, d := range all {
		if !off[d.ID()] {
			on = append(on, d)
		}
	}
	if len(on) == 0 {
		return nil, fmt.Errorf("detectors: every detector is disabled")
	}
	return NewEngine(on...), nil
}
