package main

import (
	"bytes"
	"math"
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
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	for _, tc := range []struct {
		args   []string
		daemon bool
	}{
		{[]string{"run", "--config", "/nonexistent/trailhound.yaml"}, true},
		{[]string{"run", "--once=false", "--config", "/nonexistent/trailhound.yaml"}, true},
		{[]string{"run", "--once", "--config", "/nonexistent/trailhound.yaml"}, false},
		{[]string{"run", "-once", "--config", "/nonexistent/trailhound.yaml"}, false},
		{[]string{"run", "--once=true", "--config", "/nonexistent/trailhound.yaml"}, false},
		{[]string{"run", "--once=T", "--config", "/nonexistent/trailhound.yaml"}, false},
	} {
		setMemoryLimit(func(string) string { return "" })
		var out, errb bytes.Buffer
		// The config does not exist: run stops after parsing its flags.
		realMain(&env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}, tc.args)
		want := int64(defaultMemoryLimit)
		if tc.daemon {
			want = math.MaxInt64
		}
		if got := debug.SetMemoryLimit(-1); got != want {
			t.Errorf("%q: limit=%d, want %d", tc.args, got, want)
		}
	}

	// With GOMEMLIMIT set, the runtime has read it: the bot keeps it.
	const other = 1 << 40
	debug.SetMemoryLimit(other)
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1TiB"
		}
		return ""
	}
	if got := keepRuntimeMemoryLimit(env); got != other {
		t.Fatalf("limit=%d with GOMEMLIMIT set, want %d", got, other)
	}
}
