package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/internal/replay"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

// replaySource streams the invictus records n times as JSON Lines, each
// copy with fresh event IDs and times shifted by a day, without holding
// the stream in memory.
type replaySource struct {
	lines [][]byte
	n     int
}

func (s *replaySource) Name() string { return "replay" }

// Rereads implements sources.Rereader: like a file, the stream is read
// once, so no event IDs are kept.
func (s *replaySource) Rereads([]byte) (time.Time, bool) { return time.Time{}, false }

func (s *replaySource) Fetch(ctx context.Context, _ []byte, sink sources.Sink) ([]byte, error) {
	_, err := sources.Decode(ctx, &replayReader{lines: s.lines, n: s.n}, "replay", "replay", sink)
	return nil, err
}

type replayReader struct {
	lines [][]byte
	n, i  int
	buf   bytes.Buffer
}

var (
	idKey   = []byte(`"eventID": "`)
	timeKey = []byte(`"eventTime": "2023-07-10T`)
)

func (r *replayReader) Read(p []byte) (int, error) {
	for r.buf.Len() < len(p) && r.i < r.n {
		line := r.lines[r.i%len(r.lines)]
		copyNo := r.i / len(r.lines)
		// Fresh id: replace the eventID value's first 8 characters.
		if j := bytes.Index(line, idKey); j >= 0 {
			j += len(idKey)
			r.buf.Write(line[:j])
			fmt.Fprintf(&r.buf, "%08x", copyNo)
			line = line[j+8:]
		}
		// Shifted time: a later day of the same month for each copy.
		if j := bytes.Index(line, timeKey); j >= 0 {
			day := time.Date(2023, 7, 10, 0, 0, 0, 0, time.UTC).AddDate(0, 0, copyNo)
			r.buf.Write(line[:j])
			r.buf.WriteString(`"eventTime": "` + day.Format("2006-01-02") + "T")
			line = line[j+len(timeKey):]
		}
		r.buf.Write(line)
		r.buf.WriteByte('\n')
		r.i++
	}
	if r.buf.Len() == 0 {
		return 0, io.EOF
	}
	return r.buf.Read(p)
}

// BenchmarkPipeline runs `trailhound run`'s poll over replayed invictus
// records: decode, the built-in rule pack, the anomaly
// detectors, alert storage in bbolt with batched commits. It reports
// events per second and the peak heap, at 100,000 and 1,000,000 events:
// the heap stays flat however many events a poll reads.
//
//	go test -run '^$' -bench Pipeline -benchtime 1x ./cmd/trailhound
//
// pipelineEvents adds a size to BenchmarkPipeline (10000000 for the 10M
// case, which takes minutes); pipelineHeap, when set, names a file that
// gets a heap profile at the peak of the run, to see what holds memory.
var (
	pipelineEvents = flag.Int("pipeline-events", 0, "also run BenchmarkPipeline at this many events")
	pipelineHeap   = flag.String("pipeline-heapprofile", "", "write a heap profile at BenchmarkPipeline's peak to this `file`")
	// pipelineScanEvents sizes BenchmarkCommands.
	pipelineScanEvents = flag.Int("pipeline-scan-events", 100_000, "events BenchmarkCommands replays")
)

func BenchmarkPipeline(b *testing.B) {
	path := filepath.Join(repoRoot, "..", "shared", "data", "invictus_sigma_aws_stratus", "invictus_sigma_aws_stratus.jsonl")
	f, err := os.Open(path)
	if err != nil {
		b.Skipf("invictus data not found: %v", err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	f.Close()
	sizes := []int{100_000, 1_000_000}
	if *pipelineEvents > 0 {
		sizes = append(sizes, *pipelineEvents)
	}
	for _, events := range sizes {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) { benchPipeline(b, lines, events) })
	}
}

func benchPipeline(b *testing.B, lines [][]byte, events int) {
	for range b.N {
		b.StopTimer()
		cfg, err := configs.Parse([]byte("data_dir: "+b.TempDir()+"\nlog: {level: error}\n"), "bench.yaml", nil)
		if err != nil {
			b.Fatal(err)
		}
		a, err := openApp(&env{stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		job := &workflows.Job{Source: &replaySource{lines: lines, n: events}, Detectors: a.engine, Alerts: a.alerts, Sources: a.srcStore, Log: a.log, Stateful: true}
		stop := samplePeakHeap(b)
		b.StartTimer()
		res, err := job.Run(context.Background())
		b.StopTimer()
		peak := stop()
		if err != nil {
			b.Fatal(err)
		}
		if res.Events != events {
			b.Fatalf("events=%d, want %d", res.Events, events)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(res.FindingCount), "findings")
		b.ReportMetric(float64(len(res.Ingest.New)), "alerts")
		a.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Error(err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Error(err)
	}
}

// BenchmarkCommands runs `trailhound scan --no-notify` and `trailhound run
// --once` in process over a file of the Invictus records replayed to
// -pipeline-scan-events events (default 100,000), as scripts/volume.sh
// does with the binary, so that -cpuprofile and -memprofile see them.
func BenchmarkCommands(b *testing.B) {
	n := *pipelineScanEvents
	r, err := replay.Load(filepath.Join(repoRoot, "..", "shared", "data", "invictus_sigma_aws_stratus", "invictus_sigma_aws_stratus.jsonl"))
	if err != nil {
		b.Skipf("invictus data not found: %v", err)
	}
	dir := b.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	f, err := os.Create(events)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var buf []byte
	for i := 0; i < n; i++ {
		buf = append(r.Append(buf[:0], i), '\n')
		_, _ = w.Write(buf)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	for _, cmd := range [][]string{{"scan", "--no-notify"}, {"run", "--once"}} {
		b.Run(cmd[0], func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				data := filepath.Join(dir, fmt.Sprint(cmd[0], i))
				cfg := filepath.Join(data, "trailhound.yaml")
				yaml := fmt.Sprintf("data_dir: %s\nlog: {level: error}\nsources:\n  - name: volume\n    type: file\n    schedule: \"@every 5m\"\n    options:\n      paths: [%s]\nnotify:\n  terminal: false\n", data, events)
				if err := os.MkdirAll(data, 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
					b.Fatal(err)
				}
				e := &env{stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv}
				stop := samplePeakHeap(b)
				b.StartTimer()
				if code := realMain(e, append(append([]string{cmd[0]}, cmd[1:]...), "--config", cfg)); code != 0 {
					b.Fatalf("%s exited %d", cmd[0], code)
				}
				b.StopTimer()
				b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// samplePeakHeap samples the heap in use every 50 ms, writing a heap
// profile at each new peak when -pipeline-heapprofile is set, until the
// returned function is called; that returns the peak in bytes.
func samplePeakHeap(b *testing.B) func() uint64 {
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak && *pipelineHeap != "" {
					writeHeapProfile(b, *pipelineHeap)
				}
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak
	}
}
