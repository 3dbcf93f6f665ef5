package sources

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/trailhound/trailhound/internal/shareddata"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// invictusLines returns the invictus records, one JSON object per line.
func invictusLines(b *testing.B) [][]byte {
	b.Helper()
	path := filepath.Join(shareddata.Path(b, ""), "invictus_sigma_aws_stratus", "invictus_sigma_aws_stratus.jsonl")
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

// replay is a reader that yields the records n times as JSON Lines, with a
// fresh eventID each time, without holding the whole stream in memory.
type replay struct {
	lines [][]byte
	n     int
	i     int
	buf   bytes.Buffer
}

func (r *replay) Read(p []byte) (int, error) {
	for r.buf.Len() < len(p) && r.i < r.n {
		line := r.lines[r.i%len(r.lines)]
		id := fmt.Sprintf(`"eventID": "replay-%09d"`, r.i)
		if j := bytes.Index(line, []byte(`"eventID": "`)); j >= 0 {
			end := j + bytes.IndexByte(line[j+12:], '"') + 13
			r.buf.Write(line[:j])
			r.buf.WriteString(id)
			r.buf.Write(line[end:])
		} else {
			r.buf.Write(line)
		}
		r.buf.WriteByte('\n')
		r.i++
	}
	if r.buf.Len() == 0 {
		return 0, io.EOF
	}
	return r.buf.Read(p)
}

// BenchmarkDecodeStream decodes one million replayed records from a
// stream and reports events per second and the peak heap in use, which
// stays flat however long the stream is.
func BenchmarkDecodeStream(b *testing.B) {
	lines := invictusLines(b)
	const events = 1_000_000
	b.ReportAllocs()
	for range b.N {
		var peak uint64
		var ms runtime.MemStats
		n := 0
		sink := FuncSink{OnEvent: func(context.Context, *Event) error {
			n++
			if n%50_000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			return nil
		}}
		if _, err := Decode(context.Background(), &replay{lines: lines, n: events}, "replay", "bench", sink); err != nil {
			b.Fatal(err)
		}
		if n != events {
			b.Fatalf("decoded %d events, want %d", n, events)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPlainJSONDecode is the baseline: json.Unmarshal of the same
// stream into a map, without normalising.
func BenchmarkPlainJSONDecode(b *testing.B) {
	lines := invictusLines(b)
	const events = 1_000_000
	b.ReportAllocs()
	for range b.N {
		sc := bufio.NewScanner(&replay{lines: lines, n: events})
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		n := 0
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != events {
			b.Fatalf("decoded %d, want %d", n, events)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkStrictDecode decodes the invictus records into the fast path's
// struct with encoding/json and with segmentio/encoding (what Normalize
// uses), into the map of Event.Field with both, and then whole through
// Normalize. The other decoders measured
// for the choice (goccy/go-json, bytedance/sonic) are in README, Volume.
func BenchmarkStrictDecode(b *testing.B) {
	lines := invictusLines(b)
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	for _, d := range []struct {
		name   string
		decode func([]byte, *ctRecord) error
	}{{"encoding-json", stdDecode}, {"segmentio", strictDecode}} {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for range b.N {
				for _, l := range lines {
					var r ctRecord
					if err := d.decode(l, &r); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
	for _, d := range []struct {
		name   string
		decode func([]byte) map[string]any
	}{{"map/encoding-json", stdDecodeFields}, {"map/segmentio", decodeFields}} {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for range b.N {
				for _, l := range lines {
					if len(d.decode(l)) == 0 {
						b.Fatal("no fields")
					}
				}
			}
		})
	}
	b.Run("normalize", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for range b.N {
			for _, l := range lines {
				if _, err := Normalize(l, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
