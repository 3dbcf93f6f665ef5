package anomaly

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// replay cycles the invictus records with fresh event IDs and times
// shifted an hour per round, mutating them in place so the benchmark
// measures the detectors, not the copying.
type replay struct {
	base  []sources.Event
	evs   []sources.Event
	ids   []string
	i     int
	round int
}

func newReplay(b *testing.B) *replay {
	recs := invictus(b)
	r := &replay{}
	for _, e := range recs {
		r.base = append(r.base, *e)
	}
	r.evs = append([]sources.Event(nil), r.base...)
	// More distinct IDs than the recent-events filter holds, so IDs come
	// back only after they were forgotten.
	r.ids = make([]string, 2*DefaultConfig().Limits.RecentEvents)
	for i := range r.ids {
		r.ids[i] = fmt.Sprintf("replay-%07d", i)
	}
	return r
}

func (r *replay) next(n int) *sources.Event {
	j := r.i % len(r.base)
	if j == 0 && r.i > 0 {
		r.round++
	}
	e := &r.evs[j]
	e.ID = r.ids[n%len(r.ids)]
	e.Time = r.base[j].Time.Add(time.Duration(r.round) * time.Hour)
	r.i++
	return e
}

func BenchmarkDetect(b *testing.B) {
	r := newReplay(b)
	s, err := New(nil, DefaultConfig(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	eng := detectors.NewEngine(s.Detectors()...)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		if _, err := eng.Detect(ctx, r.next(n)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkLearn(b *testing.B) {
	r := newReplay(b)
	s, err := New(nil, DefaultConfig(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		s.Learn(r.next(n))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
