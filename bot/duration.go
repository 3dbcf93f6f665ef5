package bot

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxDuration is the longest duration ParseDuration accepts: far beyond
// any limit a command has (a silence lasts at most 90 days), and far from
// the int64 nanoseconds a time.Duration holds.
const MaxDuration = 10 * 366 * 24 * time.Hour

// ErrDurationTooLong is returned for a duration above MaxDuration.
var ErrDurationTooLong = errors.New("duration is too long")

// ParseDuration parses what chat users type for a duration: Go durations
// ("90m", "36h") with an optional leading number of days ("7d", "1d12h").
// Every step is checked for overflow, so "281474976710657d" is too long
// rather than wrapping around to one day.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 64)
		if err != nil || i == 0 || s[0] == '+' {
			if errors.Is(err, strconv.ErrRange) {
				return 0, ErrDurationTooLong
			}
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		if n > uint64(MaxDuration/(24*time.Hour)) {
			return 0, ErrDurationTooLong
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	if s[0] == '-' || s[0] == '+' {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	d, err := time.ParseDuration(s) // refuses what overflows, as invalid
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	if d > MaxDuration || days > math.MaxInt64-d || days+d > MaxDuration {
		return 0, ErrDurationTooLong
	}
	return days + d, nil
}
