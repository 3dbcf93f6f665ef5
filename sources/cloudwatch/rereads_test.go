package cloudwatch

import (
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// TestRereads: the next poll reaches back the lag before the earliest end
// of a group's window, or the initial lookback before now for a group
// without one, less the skew between log timestamps and event times.
func TestRereads(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	s := &Source{Now: func() time.Time { return now }, poll: awssrc.Polling{Lag: configs.Duration(15 * time.Minute), InitialLookback: configs.Duration(time.Hour)}}
	marks := func(ends ...time.Time) []byte {
		c := awssrc.Checkpoint{Marks: map[string]awssrc.Mark{}}
		for i, e := range ends {
			c.Marks[string(rune('a'+i))] = awssrc.Mark{End: e}
		}
		return c.Bytes()
	}
	for _, tc := range []struct {
		name string
		cp   []byte
		want time.Time
	}{
		{"first poll", nil, now.Add(-time.Hour - timestampSkew)},
		{"earliest group", marks(now.Add(-time.Minute), now.Add(-2*time.Hour)), now.Add(-2*time.Hour - 15*time.Minute - timestampSkew)},
		{"recent groups", marks(now.Add(-time.Minute)), now.Add(-time.Hour - timestampSkew)},
		{"corrupt", []byte("{"), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			since, again := s.Rereads(tc.cp)
			if !again || !since.Equal(tc.want) {
				t.Fatalf("Rereads=%v,%v, want %v,true", since, again, tc.want)
			}
		})
	}
}
