package cloudwatch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

// TestDerivedFilterPatternPushedToServer: with filter_pattern "rules" no
// pattern is sent until one is set, and the set one (as cmd derives it
// from the enabled rules) reaches FilterLogEvents.
func TestDerivedFilterPatternPushedToServer(t *testing.T) {
	logs := awstest.NewLogs(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	group := "aws-cloudtrail-logs-111122223333"
	for i, name := range []string{"StopLogging", "GetUser", "DeleteTrail"} {
		at := now.Add(-time.Duration(10-i) * time.Minute)
		logs.Put(group, awstest.LogRecord{ID: fmt.Sprint(i), Stream: "s", Timestamp: at.UnixMilli(),
			Message: string(awstest.Record(fmt.Sprintf("ev-%d", i), at, name, false))})
	}
	o := options(t, logs.URL, func(o *Options) {
		o.LogGroups = []string{group}
		o.FilterPattern = DeriveFilterPattern
	})
	srcs, _ := build(t, o, now)
	if p := srcs[0].FilterPattern(); p != "" {
		t.Fatalf("pattern before it is set=%q, want none", p)
	}
	fetch := func() []string {
		evs, _, err := collect(t, func(sink sources.Sink) error { _, err := srcs[0].Fetch(context.Background(), nil, sink); return err })
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		return ids
	}
	if got := fetch(); len(got) != 3 {
		t.Fatalf("without a pattern: events=%v, want all 3", got)
	}
	derived := `{ ($.eventName = "StopLogging") || ($.eventName = "DeleteTrail") }`
	srcs[0].SetFilterPattern(derived)
	if got := fetch(); fmt.Sprint(got) != "[ev-0 ev-2]" {
		t.Fatalf("with the derived pattern: events=%v, want [ev-0 ev-2]", got)
	}
	p := logs.Patterns()
	if len(p) == 0 || p[0] != "" || p[len(p)-1] != derived {
		t.Fatalf("patterns sent=%q, want none, then %q", p, derived)
	}
}
