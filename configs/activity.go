package configs

import "time"

// Defaults of the activity section.
const (
	DefaultActivityWindow        = time.Hour
	DefaultActivityMaxRows       = 50
	DefaultActivityCacheTTL      = 5 * time.Minute
	DefaultActivityMaxConcurrent = 4
	DefaultActivityTimeout       = 20 * time.Second
)

// ActivityConfig bounds the lookups of a principal's activity that the
// Activity button and `/trailhound activity` run with the bot's AWS
// credentials, through the cloudtrail and cloudwatch sources.
type ActivityConfig struct {
	// Window is how far either side of an alert's first and last seen a
	// lookup reads. Default 1h.
	Window Duration `yaml:"window"`
	// MaxRows is the most calls a timeline shows (1 to 50); it says how
	// many more there are. Default 50.
	MaxRows int `yaml:"max_rows"`
	// CacheTTL is how long an answer is reused for the same principal and
	// window. Default 5m.
	CacheTTL Duration `yaml:"cache_ttl"`
	// MaxConcurrent caps the lookups running at once; more wait. Default 4.
	MaxConcurrent int `yaml:"max_concurrent"`
	// Timeout bounds one lookup. Default 20s.
	Timeout Duration `yaml:"timeout"`
}

func (a *ActivityConfig) applyDefaults() {
	for _, d := range []struct {
		v   *Duration
		def time.Duration
	}{{&a.Window, DefaultActivityWindow}, {&a.CacheTTL, DefaultActivityCacheTTL}, {&a.Timeout, DefaultActivityTimeout}} {
		if *d.v == 0 {
			*d.v = Duration(d.def)
		}
	}
	if a.MaxRows == 0 {
		a.MaxRows = DefaultActivityMaxRows
	}
	if a.MaxConcurrent == 0 {
		a.MaxConcurrent = DefaultActivityMaxConcurrent
	}
}

// validate checks the activity section; errAt locates an error at a key.
func (a ActivityConfig) validate(errAt func(key string, path []any, format string, args ...any) error) error {
	for _, d := range []struct {
		key      string
		v        Duration
		min, max time.Duration
	}{
		{"window", a.Window, time.Minute, 24 * time.Hour},
		{"cache_ttl", a.CacheTTL, time.Second, time.Hour},
		{"timeout", a.Timeout, time.Second, 10 * time.Minute},
	} {
		if d.v.D() < d.min || d.v.D() > d.max {
			return errAt("activity."+d.key, []any{"activity", d.key}, "must be between %s and %s, not %s", d.min, d.max, d.v.D())
		}
	}
	if a.MaxRows < 1 || a.MaxRows > 50 {
		return errAt("activity.max_rows", []any{"activity", "max_rows"}, "must be between 1 and 50, not %d", a.MaxRows)
	}
	if a.MaxConcurrent < 1 || a.MaxConcurrent > 64 {
		return errAt("activity.max_concurrent", []any{"activity", "max_concurrent"}, "must be between 1 and 64, not %d", a.MaxConcurrent)
	}
	return nil
}
