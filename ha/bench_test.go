package ha

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkSnapshotRestore measures a snapshot (copy, compress, upload to
// moto_server) and a restore of the database named by TRAILHOUND_BENCH_DB
// (for example the state `scripts/volume.sh` leaves after 1M events), or
// of 20 MB of synthetic state. It reports the database and object sizes
// and the time of each step.
//
//	TRAILHOUND_BENCH_DB=/tmp/trailhound-volume/run/data/trailhound.db \
//	  go test ./ha -run '^$' -bench SnapshotRestore -benchtime 3x
func BenchmarkSnapshotRestore(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "trailhound.db")
	if src := os.Getenv("TRAILHOUND_BENCH_DB"); src != "" {
		in, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			b.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if os.Getenv("TRAILHOUND_BENCH_DB") == "" {
		// Synthetic: 200k keys of 100 bytes of JSON-like text.
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("data"))
			if err != nil {
				return err
			}
			for i := uint64(0); i < 200000; i++ {
				if err := bk.Put(u64(i), []byte(`{"event":"ConsoleLogin","principal":"arn:aws:iam::111122223333:user/alice","n":12345}`)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	cl, bucket := newBucket(b)
	s := &Snapshotter{S3: cl, Bucket: bucket, Prefix: "bench", Keep: 3, DB: db}
	ctx := context.Background()
	var info Info
	var snapTime, restoreTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if info, err = s.Take(ctx); err != nil {
			b.Fatal(err)
		}
		snapTime += time.Since(start)
		start = time.Now()
		if _, err := Restore(ctx, cl, RestoreOptions{Bucket: bucket, Prefix: "bench", Path: filepath.Join(dir, "restored.db"), Force: true}); err != nil {
			b.Fatal(err)
		}
		restoreTime += time.Since(start)
	}
	b.ReportMetric(float64(info.DBSize)/1e6, "db-MB")
	b.ReportMetric(float64(info.Size)/1e6, "object-MB")
	b.ReportMetric(snapTime.Seconds()*1000/float64(b.N), "snapshot-ms")
	b.ReportMetric(restoreTime.Seconds()*1000/float64(b.N), "restore-ms")
}
