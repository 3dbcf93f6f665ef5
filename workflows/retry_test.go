package workflows

import (
	"testing"
	"time"
)

// TestRetryDelay: the wait after the nth failed attempt doubles from 2s
// and stops growing at 1024s.
func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{
		{1, 2 * time.Second},
		{2, 4 * time.Second},
		{9, 512 * time.Second},
		{10, 1024 * time.Second},
		{50, 1024 * time.Second},
	} {
		if got := retryDelay(tc.attempts); got != tc.want {
			t.Errorf("retryDelay(%d)=%v, want %v", tc.attempts, got, tc.want)
		}
	}
}
