package configs

import (
	"strings"
	"testing"
	"time"
)

func TestHTTPDefaults(t *testing.T) {
	cfg, err := Parse([]byte("http: {listen: \":8080\"}\n"), "t.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.HTTP
	if h.ReadHeaderTimeout.D() != DefaultReadHeaderTimeout || h.ReadTimeout.D() != DefaultReadTimeout || h.WriteTimeout.D() != DefaultWriteTimeout ||
		h.IdleTimeout.D() != DefaultIdleTimeout || h.MaxUnverified != DefaultMaxUnverified {
		t.Fatalf("defaults=%+v", h)
	}
	if addr, named := h.Admin(); addr != DefaultAdminListen || named {
		t.Fatalf("admin=%q named=%v, want the default", addr, named)
	}
	for _, tc := range []struct {
		value      string
		addr       string
		named      bool
		wantPrefix string
	}{{"off", "", true, ""}, {"127.0.0.1:9999", "127.0.0.1:9999", true, ""}} {
		if addr, named := (HTTPConfig{AdminListen: tc.value}).Admin(); addr != tc.addr || named != tc.named {
			t.Errorf("admin_listen %q: addr=%q named=%v", tc.value, addr, named)
		}
	}
	cfg, err = Parse([]byte("http: {read_timeout: 250ms, max_unverified: 8}\n"), "t.yaml", func(string) (string, bool) { return "", false })
	if err != nil || cfg.HTTP.ReadTimeout.D() != 250*time.Millisecond || cfg.HTTP.MaxUnverified != 8 {
		t.Fatalf("http=%+v err=%v", cfg.HTTP, err)
	}
}

func TestHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want string
	}{
		{"http:\n  read_timeout: 5ms\n", "t.yaml:2: http.read_timeout: must be between 10ms and 10m, not 5ms"},
		{"http:\n  idle_timeout: 1h\n", "t.yaml:2: http.idle_timeout: must be between 10ms and 10m, not 1h0m0s"},
		{"http:\n  max_unverified: -1\n", "t.yaml:2: http.max_unverified: must be between 1 and 100000, not -1"},
		{"http:\n  admin_listen: metrics\n", `t.yaml:2: http.admin_listen: "metrics" is not a host:port address (or off)`},
	} {
		_, err := Parse([]byte(tc.yaml), "t.yaml", func(string) (string, bool) { return "", false })
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: err=%v, want %q", tc.yaml, err, tc.want)
		}
	}
}
