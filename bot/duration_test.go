package bot

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		tooLong bool
		bad     bool
	}{
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "3660d", want: MaxDuration},
		{in: "3661d", tooLong: true},
		{in: "281474976710657d", tooLong: true}, // 2^48+1 days wrapped to one day before
		{in: "106751d", tooLong: true},          // just past what a time.Duration holds
		{in: "18446744073709551616d", tooLong: true},
		{in: "3660d1h", tooLong: true},
		{in: "87840h1ns", tooLong: true},
		{in: "9999999999999h", bad: true}, // time.ParseDuration refuses the overflow
		{in: "-1h", bad: true},
		{in: "1d-1h", bad: true},
		{in: "+1d", bad: true},
		{in: "d", bad: true},
		{in: "5", bad: true},
		{in: "", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			switch {
			case tc.tooLong:
				if !errors.Is(err, ErrDurationTooLong) {
					t.Fatalf("got %v, %v; want ErrDurationTooLong", got, err)
				}
			case tc.bad:
				if err == nil || errors.Is(err, ErrDurationTooLong) {
					t.Fatalf("got %v, %v; want an invalid duration", got, err)
				}
			default:
				if err != nil || got != tc.want {
					t.Fatalf("got %v, %v; want %v", got, err, tc.want)
				}
			}
		})
	}
}

// TestCommandDurationOverflow gives the commands durations that wrapped
// around before (2^48+1 days became exactly one day and a silence was
// accepted): each is refused with the limit.
func TestCommandDurationOverflow(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"silence aws-root-account-use 281474976710657d", "a silence lasts at most 90 days"},
		{"silence principal=alice 281474976710657d why", "a silence lasts at most 90 days"},
		{"silence rule=aws-root-account-use 91d", "a silence lasts at most 90 days"},
		{"findings since 281474976710657d", "since is at most 366d"},
		{"digest since 106751d", "since is at most 366d"},
	} {
		c, err := ParseCommand(tc.text)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tc.want) {
			t.Errorf("%q: command %+v, err %v; want %q", tc.text, c, err, tc.want)
		}
	}
}
