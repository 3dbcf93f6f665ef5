//go:build awsintegration

package athena

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// TestRealAccount queries a real CloudTrail table with the credentials
// of the environment. Run it with
//
//	TRAILHOUND_ATHENA_DATABASE=cloudtrail TRAILHOUND_ATHENA_TABLE=cloudtrail_logs_pp \
//	TRAILHOUND_ATHENA_OUTPUT=s3://my-athena-results/trailhound/ AWS_REGION=eu-west-1 \
//	go test -tags awsintegration -run TestRealAccount ./sources/athena/
//
// It reads the last hour's ConsoleLogin and GetCallerIdentity events and
// costs at most one 10 MiB-minimum query per date partition scanned.
func TestRealAccount(t *testing.T) {
	db, table, out, region := os.Getenv("TRAILHOUND_ATHENA_DATABASE"), os.Getenv("TRAILHOUND_ATHENA_TABLE"), os.Getenv("TRAILHOUND_ATHENA_OUTPUT"), os.Getenv("AWS_REGION")
	if db == "" || table == "" || region == "" {
		t.Skip("set TRAILHOUND_ATHENA_DATABASE, TRAILHOUND_ATHENA_TABLE, TRAILHOUND_ATHENA_OUTPUT and AWS_REGION")
	}
	opts := Options{Options: awssrc.Options{Regions: []string{region}}, Database: db, Table: table, OutputLocation: out,
		Workgroup: os.Getenv("TRAILHOUND_ATHENA_WORKGROUP"), MaxBytesScanned: 1 << 30, Polling: awssrc.Polling{InitialLookback: configs.Duration(time.Hour)}}
	if err := opts.Validate(configs.Section{}); err != nil {
		t.Fatal(err)
	}
	targets, err := opts.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := New("real", targets[0], opts)
	s.SetCondition(EventNameCondition([]string{"ConsoleLogin", "GetCallerIdentity"}))
	var events, malformed int
	var scanned int64
	cp, err := s.Fetch(context.Background(), nil, sources.FuncSink{
		OnEvent: func(_ context.Context, ev *sources.Event) error {
			events++
			if ev.ID == "" || ev.Time.IsZero() || (ev.Action != "ConsoleLogin" && ev.Action != "GetCallerIdentity") {
				t.Errorf("event %+v not read whole", ev)
			}
			return nil
		},
		OnMalformed: func(m sources.Malformed) { malformed++; t.Errorf("malformed: %s", m) },
		OnScanned:   func(n int64) { scanned += n },
	})
	if err != nil {
		t.Fatal(err)
	}
	if cp == nil || scanned <= 0 {
		t.Errorf("checkpoint=%s scanned=%d", cp, scanned)
	}
	t.Logf("%d events, %d malformed, %s scanned", events, malformed, sources.FormatBytes(scanned))
}
