package sources

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	denied := Classified(ClassUnauthorized, errors.New("AccessDenied"))
	missing := Classified(ClassNotFound, errors.New("ResourceNotFoundException"))
	throttled := Classified(ClassThrottled, errors.New("ThrottlingException"))
	for _, tc := range []struct {
		name      string
		err       error
		class     Class
		permanent bool
	}{
		{"nil", nil, ClassUnknown, false},
		{"plain", errors.New("boom"), ClassUnknown, false},
		{"wrapped", fmt.Errorf("source x: %w", denied), ClassUnauthorized, true},
		{"deadline", fmt.Errorf("poll: %w", context.DeadlineExceeded), ClassTransient, false},
		{"all permanent", errors.Join(denied, missing), ClassUnauthorized, true},
		{"transient wins", errors.Join(missing, throttled), ClassThrottled, false},
		{"partial", Partial([]byte("{}"), fmt.Errorf("x: %w", errors.Join(missing))), ClassNotFound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.class {
				t.Fatalf("class=%v, want %v", got, tc.class)
			}
			if got := IsPermanent(tc.err); got != tc.permanent {
				t.Fatalf("permanent=%v, want %v", got, tc.permanent)
			}
		})
	}
}

func TestCheckpointAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		next   []byte
		err    error
		want   string
		stored bool
	}{
		{"success", []byte("a"), nil, "a", true},
		{"failure", []byte("a"), errors.New("x"), "", false},
		{"partial", nil, fmt.Errorf("wrapped: %w", Partial([]byte("p"), errors.New("x"))), "p", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp, ok := CheckpointAfter(tc.next, tc.err)
			if string(cp) != tc.want || ok != tc.stored {
				t.Fatalf("checkpoint=%q stored=%v, want %q %v", cp, ok, tc.want, tc.stored)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	start := now.Add(-2 * time.Hour)
	hs := []Health{
		{Source: "ok", LastPoll: now, LastSuccess: now, LastEvent: now.Add(-time.Minute)},
		{Source: "denied", LastPoll: now, LastSuccess: now.Add(-time.Hour), LastError: "AccessDenied", Permanent: true},
		{Source: "flaky", LastPoll: now, LastSuccess: now.Add(-10 * time.Minute), LastError: "ThrottlingException"},
		{Source: "down", LastPoll: now, LastSuccess: now.Add(-3 * time.Hour), LastError: "503"},
		{Source: "quiet", LastPoll: now, LastSuccess: now, LastEvent: now.Add(-48 * time.Hour)},
		{Source: "broken", LastPoll: now, LastError: "no credentials"},
	}
	names := []string{"ok", "denied", "flaky", "down", "quiet", "broken", "new"}
	got := Problems(hs, names, now, start, time.Hour, ProblemLimits{Stale: time.Hour, MaxLag: 24 * time.Hour})
	var kinds []string
	for _, p := range got {
		kinds = append(kinds, p.Source+":"+string(p.Kind))
	}
	want := "[denied:permanent-error down:failing broken:never-succeeded new:never-succeeded quiet:lagging]"
	if fmt.Sprint(kinds) != want {
		t.Fatalf("problems=%v, want %s", kinds, want)
	}
	// Within the grace period after start, unpolled sources are not yet a
	// problem.
	got = Problems(nil, []string{"new"}, now, now.Add(-time.Minute), time.Hour, ProblemLimits{})
	if len(got) != 0 {
		t.Fatalf("problems=%v, want none during grace", got)
	}
}
