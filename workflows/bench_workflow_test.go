package workflows

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
)

// BenchmarkEscalatorTick measures one escalation tick over 20,000 alerts,
// 500 of them open and none due: the cost paid every minute.
func BenchmarkEscalatorTick(b *testing.B) {
	s, err := NewStore(testdb.Open(b))
	if err != nil {
		b.Fatal(err)
	}
	s.Now = func() time.Time { return t0 }
	s.Config = DefaultConfig()
	s.Config.Policies["p"] = &Policy{Name: "p", Levels: []Level{{After: 30 * 60 * 1e9, Targets: []Target{{}}}}}
	s.Config.DefaultRoute.Escalation = "p"
	err = s.DB().Update(func(tx *bolt.Tx) error {
		var fs []detectors.Finding
		for i := 0; i < 20000; i++ {
			fs = append(fs, finding("r", fmt.Sprint("fp", i), fmt.Sprint("g", i), t0, detectors.High))
		}
		res, err := s.Ingest(tx, fs)
		if err != nil {
			return err
		}
		for _, a := range res.New[500:] {
			if _, err := s.apply(tx, Change{AlertID: a.ID, Action: ActionResolve, Actor: "x"}, t0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	e := &Escalator{Store: s}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := e.Tick(t0.Add(time.Minute)); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkDigest builds a weekly digest over 5,000 alerts.
func BenchmarkDigest(b *testing.B) {
	s, err := NewStore(testdb.Open(b))
	if err != nil {
		b.Fatal(err)
	}
	s.Now = func() time.Time { return t0 }
	err = s.DB().Update(func(tx *bolt.Tx) error {
		var fs []detectors.Finding
		for i := 0; i < 5000; i++ {
			fs = append(fs, finding(fmt.Sprint("r", i%40), fmt.Sprint("fp", i), fmt.Sprint("g", i), t0, detectors.Severity(i%5)))
		}
		_, err := s.Ingest(tx, fs)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.BuildDigest(DigestOptions{Since: t0.Add(-7 * 24 * time.Hour), Until: t0.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
}
