// Command replay writes the Invictus records replayed to -n events as JSON
// Lines on stdout, for volume measurements (scripts/volume.sh): record i is
// base record i mod 2,900 with its eventID suffixed by the round and its
// eventTime moved forward one hour per round, as the replayer of
// detectors/rules/bench_test.go does.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	in := flag.String("in", "../shared/data/invictus_sigma_aws_stratus/invictus_sigma_aws_stratus.jsonl", "Invictus JSON Lines `file`")
	n := flag.Int("n", 1_000_000, "events to write")
	flag.Parse()
	if err := run(*in, *n); err != nil {
		fmt.Fprintf(os.Stderr, "replay: %v\n", err)
		os.Exit(1)
	}
}

type baseRecord struct {
	raw                    []byte
	idEnd, timeAt, timeEnd int
	t                      time.Time
}

func run(in string, n int) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var recs []baseRecord
	for _, line := range bytes.Split(data, []byte("\n")) {
		raw := bytes.TrimSpace(line)
		if len(raw) == 0 {
			continue
		}
		var head struct {
			ID   string `json:"eventID"`
			Time string `json:"eventTime"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return err
		}
		id, at := valueAt(raw, "eventID", head.ID), valueAt(raw, "eventTime", head.Time)
		t, err := time.Parse(time.RFC3339, head.Time)
		if id < 0 || at < 0 || err != nil {
			return fmt.Errorf("record without plain eventID/eventTime: %.80s", raw)
		}
		recs = append(recs, baseRecord{raw: raw, idEnd: id + len(head.ID), timeAt: at, timeEnd: at + len(head.Time), t: t})
	}
	if len(recs) == 0 {
		return fmt.Errorf("%s: no records", in)
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	for i := 0; i < n; i++ {
		b := &recs[i%len(recs)]
		round := i / len(recs)
		ts := b.t.Add(time.Duration(round) * time.Hour).UTC().Format(time.RFC3339)
		suffix := "-r" + strconv.Itoa(round)
		raw := b.raw
		if b.idEnd < b.timeAt {
			w.Write(raw[:b.idEnd])
			w.WriteString(suffix)
			w.Write(raw[b.idEnd:b.timeAt])
			w.WriteString(ts)
			w.Write(raw[b.timeEnd:])
		} else {
			w.Write(raw[:b.timeAt])
			w.WriteString(ts)
			w.Write(raw[b.timeEnd:b.idEnd])
			w.WriteString(suffix)
			w.Write(raw[b.idEnd:])
		}
		w.WriteByte('\n')
	}
	return w.Flush()
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
