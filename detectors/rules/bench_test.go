package rules_test

import (
	"context"
	"encoding/json"
	"flag"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/sigma"
	"github.com/trailhound/trailhound/internal/replay"
	"github.com/trailhound/trailhound/internal/shareddata"
	"github.com/trailhound/trailhound/sources"
)

// replayEvents is how many events one benchmark operation processes:
// the Invictus records replayed with fresh eventIDs and shifted times.
var replayEvents = flag.Int("replay", 1_000_000, "events per benchmark operation (Invictus records replayed)")

// newReplayer loads the Invictus records for replaying (see
// internal/replay: fresh eventIDs, times moved one hour per round).
func newReplayer(b *testing.B) *replay.Replayer {
	b.Helper()
	r, err := replay.Load(filepath.Join(shareddata.Path(b, "invictus_sigma_aws_stratus"), "invictus_sigma_aws_stratus.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// peak samples the live heap.
type peak struct{ max uint64 }

func (p *peak) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > p.max {
		p.max = ms.HeapInuse
	}
}

// runReplay times fn over replayEvents generated records per operation
// and reports events per second, nanoseconds per event and the peak heap.
func runReplay(b *testing.B, fn func(rec []byte)) {
	r := newReplayer(b)
	n := *replayEvents
	var pk peak
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for op := 0; op < b.N; op++ {
		for i := 0; i < n; i++ {
			fn(r.Record(i))
			if i%100_000 == 0 {
				pk.sample()
			}
		}
	}
	elapsed := time.Since(start)
	pk.sample()
	b.StopTimer()
	events := float64(n) * float64(b.N)
	b.ReportMetric(events/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/events, "ns/event")
	b.ReportMetric(float64(pk.max)/(1<<20), "peak-heap-MB")
}

// BenchmarkJSONDecode is the baseline: decoding each replayed record into
// a map with encoding/json, nothing else.
func BenchmarkJSONDecode(b *testing.B) {
	runReplay(b, func(rec []byte) {
		var m map[string]any
		if err := json.Unmarshal(rec, &m); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkNormalize decodes each record into a sources.Event, as every
// source does before detection.
func BenchmarkNormalize(b *testing.B) {
	runReplay(b, func(rec []byte) {
		if _, err := sources.Normalize(rec, "bench"); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRulePack normalises each record and runs the whole built-in
// pack on it: stateless rules and threshold rules with their windows.
func BenchmarkRulePack(b *testing.B) {
	benchPack(b, rules.Options{})
}

// BenchmarkRulePackWithSigma adds the 57 SigmaHQ CloudTrail rules.
func BenchmarkRulePackWithSigma(b *testing.B) {
	opts := rules.Options{}
	opts.Extra = sigmaDefs(b)
	benchPack(b, opts)
}

func benchPack(b *testing.B, opts rules.Options) {
	p, err := rules.Load(opts)
	if err != nil {
		b.Fatal(err)
	}
	eng := detectors.NewEngine(p.Detectors()...)
	ctx := context.Background()
	findings := 0
	runReplay(b, func(rec []byte) {
		ev, err := sources.Normalize(rec, "bench")
		if err != nil {
			b.Fatal(err)
		}
		fs, _ := eng.Detect(ctx, &ev)
		findings += len(fs)
	})
	b.ReportMetric(float64(findings)/float64(b.N), "findings/op")
	b.ReportMetric(float64(len(p.Rules())), "rules")
}

// BenchmarkReplayOnly measures generating the replayed records, included
// in every figure above.
func BenchmarkReplayOnly(b *testing.B) {
	var sink int
	runReplay(b, func(rec []byte) { sink += len(rec) })
	if sink == 0 {
		b.Fatal("nothing generated")
	}
}

func sigmaDefs(b *testing.B) []rules.Definition {
	dir := shareddata.Path(b, "sigma/rules/cloud/aws/cloudtrail")
	defs, skipped, err := sigma.LoadDir(dir)
	if err != nil || len(skipped) > 0 {
		b.Fatalf("sigma: %v %v", err, skipped)
	}
	return defs
}

// BenchmarkPackMiss runs the built-in pack on an already decoded event no
// rule fires on: the cost of the rules themselves for most events.
func BenchmarkPackMiss(b *testing.B) {
	p, err := rules.Load(rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	eng := detectors.NewEngine(p.Detectors()...)
	ev, err := sources.Normalize([]byte(`{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventID":"e1","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2","readOnly":true,"userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333"}}`), "bench")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if fs, _ := eng.Detect(ctx, &ev); len(fs) != 0 {
			b.Fatal("fired")
		}
	}
}
