package main

import (
	"runtime/debug"
	"testing"
)

func TestMemoryLimitDefaultUnlessGOMEMLIMIT(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })

	const other = 1 << 40
	debug.SetMemoryLimit(other)
	if got := setMemoryLimit(func(string) string { return "" }); got != defaultMemoryLimit {
		t.Fatalf("limit=%d, want the default %d", got, defaultMemoryLimit)
	}
	if got := debug.SetMemoryLimit(-1); got != defaultMemoryLimit {
		t.Fatalf("runtime limit=%d, want the default %d", got, defaultMemoryLimit)
	}

	// With GOMEMLIMIT set, the runtime has read it: the limit stays.
	debug.SetMemoryLimit(other)
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1TiB"
		}
		return ""
	}
	if got := setMemoryLimit(env); got != other {
		t.Fatalf("limit=%d with GOMEMLIMIT set, want %d", got, other)
	}
	if got := debug.SetMemoryLimit(-1); got != other {
		t.Fatalf("runtime limit=%d with GOMEMLIMIT set, want %d", got, other)
	}
}

func TestDaemonKeepsRuntimeDefaults(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		daemon bool
	}{
		{[]string{"run"}, true},
		{[]string{"run", "--config", "x.yaml"}, true},
		{[]string{"run", "--once=false"}, true},
		{[]string{"run", "--once"}, false},
		{[]string{"run", "--config", "x.yaml", "-once"}, false},
		{[]string{"run", "--once=true"}, false},
		{[]string{"scan"}, false},
		{[]string{"rules", "backtest", "run"}, false},
		{nil, false},
	} {
		if got := isDaemon(tc.args); got != tc.daemon {
			t.Errorf("isDaemon(%q)=%v, want %v", tc.args, got, tc.daemon)
		}
	}
}
