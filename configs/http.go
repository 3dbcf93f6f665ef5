package configs

import (
	"net"
	"time"
)

// DefaultAdminListen is where /metrics, /healthz and /readyz are served
// unless http.admin_listen says otherwise: loopback only.
const DefaultAdminListen = "127.0.0.1:9464"

// Defaults of the chat listener's limits. Slack and Discord send small
// requests and give up after 3 seconds, so a request that takes longer
// than a few seconds to arrive is not from them.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 15 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultMaxUnverified     = 128
)

// Admin returns the admin listener's address, "" when it is off, and
// whether the config names it (a named address that cannot be bound stops
// the bot; the default only logs).
func (h HTTPConfig) Admin() (addr string, named bool) {
	switch h.AdminListen {
	case "":
		return DefaultAdminListen, false
	case "off":
		return "", true
	}
	return h.AdminListen, true
}

func (h *HTTPConfig) applyDefaults() {
	for _, d := range []struct {
		v   *Duration
		def time.Duration
	}{{&h.ReadHeaderTimeout, DefaultReadHeaderTimeout}, {&h.ReadTimeout, DefaultReadTimeout}, {&h.WriteTimeout, DefaultWriteTimeout}, {&h.IdleTimeout, DefaultIdleTimeout}} {
		if *d.v == 0 {
			*d.v = Duration(d.def)
		}
	}
	if h.MaxUnverified == 0 {
		h.MaxUnverified = DefaultMaxUnverified
	}
}

// validate checks the http section; errAt locates an error at a key.
func (h HTTPConfig) validate(errAt func(key string, path []any, format string, args ...any) error) error {
	for _, d := range []struct {
		key string
		v   Duration
	}{{"read_header_timeout", h.ReadHeaderTimeout}, {"read_timeout", h.ReadTimeout}, {"write_timeout", h.WriteTimeout}, {"idle_timeout", h.IdleTimeout}} {
		if d.v.D() < 10*time.Millisecond || d.v.D() > 10*time.Minute {
			return errAt("http."+d.key, []any{"http", d.key}, "must be between 10ms and 10m, not %s", d.v.D())
		}
	}
	if h.MaxUnverified < 1 || h.MaxUnverified > 100000 {
		return errAt("http.max_unverified", []any{"http", "max_unverified"}, "must be between 1 and 100000, not %d", h.MaxUnverified)
	}
	if addr, _ := h.Admin(); addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return errAt("http.admin_listen", []any{"http", "admin_listen"}, "%q is not a host:port address (or off)", h.AdminListen)
		}
	}
	return nil
}
