package bot

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketReplay holds the ids of chat requests already received (Slack
// signatures, trigger and event ids; Discord signatures and interaction
// ids), each with when it was first seen.
var bucketReplay = []byte("bot.replay")

// replayPruneEvery is how many new ids are recorded between two sweeps of
// expired ones.
const replayPruneEvery = 256

// ReplayGuard remembers the requests a chat adapter has accepted, for as
// long as a signed request stays acceptable, so a replayed or retried one
// is applied once. The ids are kept in bbolt: a restart does not forget
// them and reopen the window.
type ReplayGuard struct {
	db  *bolt.DB
	ttl time.Duration

	mu     sync.Mutex
	mem    map[string]time.Time
	writes int
}

// NewReplayGuard returns a guard remembering ids for ttl. db may be nil
// (tests, a notifier that only posts): the ids are then kept in memory
// only.
func NewReplayGuard(db *bolt.DB, ttl time.Duration) (*ReplayGuard, error) {
	g := &ReplayGuard{db: db, ttl: ttl, mem: map[string]time.Time{}}
	if db == nil {
		return g, nil
	}
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketReplay)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bot: create replay bucket: %w", err)
	}
	return g, nil
}

// First records key as seen at now and reports whether it had not been
// seen within the guard's ttl. An empty key is always new. An error (the
// database cannot be written) leaves the request unaccepted.
func (g *ReplayGuard) First(key string, now time.Time) (bool, error) {
	if key == "" {
		return true, nil
	}
	g.mu.Lock()
	if t, ok := g.mem[key]; ok && now.Sub(t) <= g.ttl {
		g.mu.Unlock()
		return false, nil
	}
	if len(g.mem) >= 4096 {
		for k, t := range g.mem {
			if now.Sub(t) > g.ttl {
				delete(g.mem, k)
			}
		}
	}
	g.writes++
	prune := g.writes%replayPruneEvery == 1
	g.mu.Unlock()

	first := true
	if g.db != nil {
		// Batch lets the concurrent requests of a burst share one commit.
		err := g.db.Batch(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketReplay)
			first = true
			if v := b.Get([]byte(key)); len(v) == 8 {
				seen := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
				first = now.Sub(seen) > g.ttl
			}
			if prune {
				if err := pruneReplay(b, now, g.ttl); err != nil {
					return err
				}
			}
			if !first {
				return nil
			}
			v := make([]byte, 8)
			binary.BigEndian.PutUint64(v, uint64(now.UnixNano()))
			return b.Put([]byte(key), v)
		})
		if err != nil {
			return false, fmt.Errorf("bot: record request id: %w", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.mem[key]; ok && now.Sub(t) <= g.ttl {
		first = false // a concurrent twin got here first
	} else if first || g.db == nil {
		g.mem[key] = now
	}
	return first, nil
}

// pruneReplay deletes the ids older than ttl.
func pruneReplay(b *bolt.Bucket, now time.Time, ttl time.Duration) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) != 8 || now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(v)))) > ttl {
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	return nil
}
