package ha

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	bolt "go.etcd.io/bbolt"
)

var bucketData, bucketMeta = []byte("data"), []byte("meta")

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// put writes keys [from, to) to the data bucket, with "last" = to-1 in the
// same transaction, so a consistent copy has last+1 keys.
func put(t *testing.T, db *bolt.DB, from, to uint64, value []byte) {
	t.Helper()
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketData)
		if err != nil {
			return err
		}
		for i := from; i < to; i++ {
			if err := b.Put(u64(i), value); err != nil {
				return err
			}
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put([]byte("last"), u64(to-1))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkConsistent opens a restored database and returns its key count,
// failing unless the meta "last" key agrees with the data.
func checkConsistent(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, last uint64
	err = db.View(func(tx *bolt.Tx) error {
		n = uint64(tx.Bucket(bucketData).Stats().KeyN)
		last = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get([]byte("last")))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != last+1 {
		t.Fatalf("restored database has %d keys but its last key is %d: not a consistent copy", n, last)
	}
	return n
}

func newSnapshotter(t *testing.T, db *bolt.DB) *Snapshotter {
	cl, b := newBucket(t)
	return &Snapshotter{S3: cl, Bucket: b, Prefix: "prod/state", Keep: 48, DB: db}
}

// TestSnapshotRoundTrip takes snapshots while another goroutine keeps
// committing, restores the last one, and checks that it is one consistent
// state, with its checksum, schema version and sizes in the metadata.
func TestSnapshotRoundTrip(t *testing.T) {
	db := openDB(t, t.TempDir())
	put(t, db, 0, 1000, bytes.Repeat([]byte("x"), 100))
	s := newSnapshotter(t, db)
	ctx := context.Background()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var commits int
	go func() {
		defer wg.Done()
		for n := uint64(1000); ; n += 50 {
			select {
			case <-stop:
				return
			default:
			}
			put(t, db, n, n+50, bytes.Repeat([]byte("y"), 100))
			commits++
		}
	}()
	var info Info
	for i := 0; i < 3; i++ {
		var err error
		if info, err = s.Take(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d commits during the snapshots", commits)

	dst := filepath.Join(t.TempDir(), "restored", "trailhound.db")
	got, err := Restore(ctx, s.S3, RestoreOptions{Bucket: s.Bucket, Prefix: s.Prefix, Path: dst})
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != info.Key || got.SHA256 != info.SHA256 || got.Schema != SchemaVersion || got.DBSize != info.DBSize {
		t.Fatalf("restored %+v, want the last snapshot %+v", got, info)
	}
	if !strings.HasPrefix(got.Key, "prod/state/trailhound-") {
		t.Fatalf("key %q, want it under the prefix", got.Key)
	}
	if n := checkConsistent(t, dst); n < 1000 {
		t.Fatalf("restored %d keys, want at least the 1000 written before", n)
	}
	head, err := s.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &info.Key})
	if err != nil {
		t.Fatal(err)
	}
	if head.Metadata["sha256"] != info.SHA256 || head.Metadata["schema-version"] != "1" {
		t.Fatalf("metadata %v, want the checksum and schema version", head.Metadata)
	}
	if aws.ToInt64(head.ContentLength) >= info.DBSize {
		t.Fatalf("object is %d bytes for a %d-byte database: not compressed", aws.ToInt64(head.ContentLength), info.DBSize)
	}
}

// TestSnapshotMultipart uploads a snapshot larger than one part, as a
// multipart upload, and restores it.
func TestSnapshotMultipart(t *testing.T) {
	db := openDB(t, t.TempDir())
	random := make([]byte, 1<<20)
	for i := uint64(0); i < 12; i++ {
		_, _ = rand.Read(random)
		put(t, db, i, i+1, random) // incompressible: 12 MiB compressed
	}
	s := newSnapshotter(t, db)
	s.PartSize = 5 << 20
	ctx := context.Background()
	info, err := s.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size <= s.PartSize {
		t.Fatalf("snapshot is %d bytes, want more than a part (%d)", info.Size, s.PartSize)
	}
	dst := filepath.Join(t.TempDir(), "trailhound.db")
	if _, err := Restore(ctx, s.S3, RestoreOptions{Bucket: s.Bucket, Prefix: s.Prefix, Path: dst}); err != nil {
		t.Fatal(err)
	}
	if n := checkConsistent(t, dst); n != 12 {
		t.Fatalf("restored %d keys, want 12", n)
	}
}

// TestSnapshotPrune keeps the newest Keep snapshots.
func TestSnapshotPrune(t *testing.T) {
	db := openDB(t, t.TempDir())
	put(t, db, 0, 10, []byte("v"))
	s := newSnapshotter(t, db)
	s.Keep = 3
	clk := newClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	s.Now = clk.Now
	ctx := context.Background()
	var keys []string
	for i := 0; i < 5; i++ {
		info, err := s.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
		clk.Add(5 * time.Minute)
	}
	// An object that is not a snapshot is never pruned.
	other := s.Prefix + "/README.txt"
	if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &other, Body: strings.NewReader("hi")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := List(ctx, s.S3, s.Bucket, s.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range all {
		got = append(got, i.Key)
	}
	if strings.Join(got, ",") != strings.Join(keys[2:], ",") {
		t.Fatalf("kept %v, want the newest three %v", got, keys[2:])
	}
	if _, err := s.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &other}); err != nil {
		t.Fatalf("the other object was pruned: %v", err)
	}
}

// TestRestoreChoosesAt restores the newest snapshot at or before --at.
func TestRestoreChoosesAt(t *testing.T) {
	db := openDB(t, t.TempDir())
	s := newSnapshotter(t, db)
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	s.Now = clk.Now
	ctx := context.Background()
	for i := uint64(1); i <= 3; i++ {
		put(t, db, 0, i*10, []byte("v"))
		if _, err := s.Take(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Hour)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want uint64
	}{
		{"newest", time.Time{}, 30},
		{"exactly the second", t0.Add(time.Hour), 20},
		{"between second and third", t0.Add(90 * time.Minute), 20},
		{"just after the first", t0.Add(time.Second), 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "trailhound.db")
			if _, err := Restore(ctx, s.S3, RestoreOptions{Bucket: s.Bucket, Prefix: s.Prefix, Path: dst, At: tc.at}); err != nil {
				t.Fatal(err)
			}
			if got := checkConsistent(t, dst); got != tc.want {
				t.Fatalf("restored %d keys, want %d", got, tc.want)
			}
		})
	}
	_, err := Restore(ctx, s.S3, RestoreOptions{Bucket: s.Bucket, Prefix: s.Prefix, Path: filepath.Join(t.TempDir(), "x.db"), At: t0.Add(-time.Second)})
	if !errors.Is(err, ErrNoSnapshot) || !strings.Contains(err.Error(), "at or before 2026-12-06T09:59:59Z") {
		t.Fatalf("err=%v, want no snapshot at or before the time", err)
	}
}

// TestRestoreRefusesExisting leaves an existing database alone without
// Force, and replaces it with Force.
func TestRestoreRefusesExisting(t *testing.T) {
	db := openDB(t, t.TempDir())
	put(t, db, 0, 10, []byte("v"))
	s := newSnapshotter(t, db)
	ctx := context.Background()
	if _, err := s.Take(ctx); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "trailhound.db")
	if err := os.WriteFile(dst, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(ctx, s.S3, RestoreOptions{Bucket: s.Bucket, Prefix: s.Prefix, Path: dst})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err=%v, want a refusal naming --force", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "precious" {
		t.Fatalf("the existing file was changed to %q", b)
	}
	if _, err := Restore(ctx, s.S3, RestoreOptions{Bucket: s.Bucket, Prefix: s.Prefix, Path: dst, Force: true}); err != nil {
		t.Fatal(err)
	}
	if n := checkConsistent(t, dst); n != 10 {
		t.Fatalf("restored %d keys, want 10", n)
	}
}

// TestRestoreRefusesBadSnapshots refuses a snapshot whose content does not
// match its checksum, one without a checksum, and one of a newer schema,
// each with a clear error, leaving the destination absent.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	db := openDB(t, t.TempDir())
	put(t, db, 0, 10, []byte("v"))
	s := newSnapshotter(t, db)
	ctx := context.Background()
	info, err := s.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		meta map[string]string
		want string
	}{
		{"checksum mismatch", map[string]string{"sha256": strings.Repeat("0", 64), "schema-version": "1"}, "checksum mismatch"},
		{"no checksum", map[string]string{"schema-version": "1"}, "no SHA-256 checksum"},
		{"newer schema", map[string]string{"sha256": info.SHA256, "schema-version": "2"}, "schema version 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := s.Bucket + "/" + info.Key
			if _, err := s.S3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.Bucket, Key: &info.Key, CopySource: &src,
				Metadata: tc.meta, MetadataDirective: "REPLACE"}); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "trailhound.db")
			_, err := Restore(ctx, s.S3, RestoreOptions{Bucket: s.Bucket, Prefix: s.Prefix, Path: dst})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
			if _, err := os.Stat(dst); !os.IsNotExist(err) {
				t.Fatalf("destination exists after a refused restore: %v", err)
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".restore-*"))
			if len(left) > 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

// TestSnapshotFenced uploads nothing once the lease is lost.
func TestSnapshotFenced(t *testing.T) {
	db := openDB(t, t.TempDir())
	put(t, db, 0, 10, []byte("v"))
	s := newSnapshotter(t, db)
	s.Fence = func() error { return ErrFenced }
	ctx := context.Background()
	if _, err := s.Take(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("err=%v, want ErrFenced", err)
	}
	all, err := List(ctx, s.S3, s.Bucket, s.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Fatalf("%d snapshots uploaded by a fenced replica", len(all))
	}
}
