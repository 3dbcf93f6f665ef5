package cloudtrail

import (
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// TestRereads: the next poll reaches back the lag before the end of the
// last window, or the initial lookback before now when there was none;
// a checkpoint that cannot be read may make it read anything.
func TestRereads(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	s := &Source{Now: func() time.Time { return now }, poll: awssrc.Polling{Lag: configs.Duration(15 * time.Minute), InitialLookback: configs.Duration(time.Hour)}}
	end := now.Add(-5 * time.Minute)
	for _, tc := range []struct {
		name string
		cp   []byte
		want time.Time
	}{
		{"first poll", nil, now.Add(-time.Hour)},
		{"after a window", awssrc.Checkpoint{Marks: map[string]awssrc.Mark{"": {End: end}}}.Bytes(), end.Add(-15 * time.Minute)},
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
