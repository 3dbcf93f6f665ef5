// Command replay writes the Invictus records replayed to -n events as JSON
// Lines on stdout, for volume measurements (scripts/volume.sh): record i is
// base record i mod 2,900 with its eventID suffixed by the round and its
// eventTime moved forward one hour per round (internal/replay, as the
// rule benchmarks replay them).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/trailhound/trailhound/internal/replay"
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

func run(in string, n int) error {
	r, err := replay.Load(in)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	var buf []byte
	for i := 0; i < n; i++ {
		buf = append(r.Append(buf[:0], i), '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.Flush()
}
