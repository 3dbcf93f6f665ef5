//go:build linux

package workflows

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

// mappedRSS returns the resident kilobytes of the mapping that starts at
// addr, from /proc/self/smaps.
func mappedRSS(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		// A mapping's header starts with its address range, "start-end".
		if from, _, ok := strings.Cut(strings.Fields(line + " ")[0], "-"); ok {
			if start, err := strconv.ParseUint(from, 16, 64); err == nil {
				in = uintptr(start) == addr
				continue
			}
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	return 0
}

func TestReleaseMappedDropsResidentPagesAndKeepsData(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "th.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// About 8 MB of random-looking keys, over many commits as a poll
	// makes them.
	const n, per = 32000, 4000
	val := bytes.Repeat([]byte("v"), 200)
	for c := 0; c < n/per; c++ {
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("fingerprints"))
			if err != nil {
				return err
			}
			for i := c * per; i < (c+1)*per; i++ {
				if err := b.Put([]byte(fmt.Sprintf("%08x", uint32(i)*2654435761)), val); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func() int {
		got := 0
		if err := db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("fingerprints")).ForEach(func(k, v []byte) error {
				if !bytes.Equal(v, val) {
					return fmt.Errorf("key %s: value %q", k, v)
				}
				got++
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := readAll(); got != n {
		t.Fatalf("read %d keys, want %d", got, n)
	}
	addr := db.Info().Data
	before := mappedRSS(t, addr)
	if before < 4096 {
		t.Fatalf("mapped RSS after reading everything=%d kB, want at least 4096 kB", before)
	}
	if err := releaseMapped(db); err != nil {
		t.Fatal(err)
	}
	after := mappedRSS(t, addr)
	t.Logf("mapped RSS: %d kB before release, %d kB after", before, after)
	if after > before/8 {
		t.Fatalf("mapped RSS after release=%d kB, want at most %d kB (was %d kB)", after, before/8, before)
	}
	// The data reads back from the page cache, and the database stays
	// writable and consistent.
	if got := readAll(); got != n {
		t.Fatalf("read %d keys after release, want %d", got, n)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("fingerprints")).Put([]byte("after"), val)
	}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(); got != n+1 {
		t.Fatalf("read %d keys after a write, want %d", got, n+1)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("check: %v", err)
	}
}

// mapDetector finds every event, and notes the resident size of the
// database's map at the first event of each batch after the first: just
// after the commit before it.
type mapDetector struct {
	everyEvent
	t     *testing.T
	db    *bolt.DB
	batch int
	n     int
	rss   []int
}

func (d *mapDetector) Detect(ctx context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	if d.n > 0 && d.n%d.batch == 0 {
		d.rss = append(d.rss, mappedRSS(d.t, d.db.Info().Data))
	}
	d.n++
	return d.everyEvent.Detect(ctx, ev)
}

// TestJobReleasesMappedPagesAfterCommits: a long poll does not keep the
// database pages its commits read resident.
func TestJobReleasesMappedPagesAfterCommits(t *testing.T) {
	db := testdb.OpenAt(t, t.TempDir()+"/th.db")
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	const n, batch = 6000, 500
	src := &listSource{events: events(n), failAfter: -1}
	det := &mapDetector{t: t, db: db, batch: batch}
	job := &Job{Source: src, Detectors: detectors.NewEngine(det), Alerts: alerts, Sources: srcStore, Stateful: true, BatchEvents: batch}
	res, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Ingest.New) != n {
		t.Fatalf("new alerts=%d, want %d", len(res.Ingest.New), n)
	}
	t.Logf("mapped RSS after each commit (kB): %v", det.rss)
	for i, kb := range det.rss {
		if kb > 256 {
			t.Fatalf("mapped RSS after commit %d=%d kB, want at most 256 kB", i+1, kb)
		}
	}
	if all, _ := alerts.List(Filter{}); len(all) != n {
		t.Fatalf("alerts=%d, want %d", len(all), n)
	}
}
