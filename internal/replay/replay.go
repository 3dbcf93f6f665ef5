// Package replay regenerates CloudTrail records for benchmarks and volume
// runs: record i is base record i mod n with its eventID suffixed by the
// round ("-r3") and its eventTime moved forward one hour per round, so
// every record is new to deduplication and threshold windows slide as in
// a live feed. Only the base records are kept in memory.
package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Replayer holds the base records.
type Replayer struct {
	recs []base
}

type base struct {
	raw []byte
	// idEnd is the offset just before the closing quote of eventID;
	// timeAt and timeEnd bound the eventTime value.
	idEnd, timeAt, timeEnd int
	t                      time.Time
}

// Load reads the base records from a JSON Lines file. Each must have a
// plain string eventID and an RFC 3339 eventTime.
func Load(path string) (*Replayer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &Replayer{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		raw := append([]byte(nil), bytes.TrimSpace(sc.Bytes())...)
		if len(raw) == 0 {
			continue
		}
		var head struct {
			ID   string `json:"eventID"`
			Time string `json:"eventTime"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		id, at := valueAt(raw, "eventID", head.ID), valueAt(raw, "eventTime", head.Time)
		t, err := time.Parse(time.RFC3339, head.Time)
		if id < 0 || at < 0 || err != nil {
			return nil, fmt.Errorf("%s: record without plain eventID/eventTime: %.80s", path, raw)
		}
		r.recs = append(r.recs, base{raw: raw, idEnd: id + len(head.ID), timeAt: at, timeEnd: at + len(head.Time), t: t})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.recs) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	return r, nil
}

// Len is the number of base records.
func (r *Replayer) Len() int { return len(r.recs) }

// Append appends record i to dst and returns the result.
func (r *Replayer) Append(dst []byte, i int) []byte {
	b := &r.recs[i%len(r.recs)]
	round := i / len(r.recs)
	ts := b.t.Add(time.Duration(round) * time.Hour).UTC().Format(time.RFC3339)
	suffix := "-r" + strconv.Itoa(round)
	raw := b.raw
	if b.idEnd < b.timeAt {
		dst = append(dst, raw[:b.idEnd]...)
		dst = append(dst, suffix...)
		dst = append(dst, raw[b.idEnd:b.timeAt]...)
		dst = append(dst, ts...)
		return append(dst, raw[b.timeEnd:]...)
	}
	dst = append(dst, raw[:b.timeAt]...)
	dst = append(dst, ts...)
	dst = append(dst, raw[b.timeEnd:b.idEnd]...)
	dst = append(dst, suffix...)
	return append(dst, raw[b.idEnd:]...)
}

// Record returns a fresh copy of record i; the caller owns it (an
// Event's Raw may keep it).
func (r *Replayer) Record(i int) []byte {
	b := &r.recs[i%len(r.recs)]
	return r.Append(make([]byte, 0, len(b.raw)+16), i)
}

// valueAt returns the offset of the string value of a top-level key, or -1.
func valueAt(raw []byte, key, value string) int {
	k := bytes.Index(raw, []byte(`"`+key+`"`))
	if k < 0 {
		return -1
	}
	v := bytes.Index(raw[k:], []byte(`"`+value+`"`))
	if v < 0 {
		return -1
	}
	return k + v + 1
}
