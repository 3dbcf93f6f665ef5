package rules_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/sigma"
	"github.com/trailhound/trailhound/internal/shareddata"
	"github.com/trailhound/trailhound/sources"
)

// TestIndexedEngineSameFindings runs the built-in and Sigma rules over the
// Invictus records twice, through the engine's event-name index and rule
// by rule, and requires the same findings in the same order.
func TestIndexedEngineSameFindings(t *testing.T) {
	dir := shareddata.Path(t, "invictus_sigma_aws_stratus")
	sig, _, err := sigma.LoadDir(filepath.Join(shareddata.Path(t, "sigma"), "rules"))
	if err != nil {
		t.Fatal(err)
	}
	newPack := func() *rules.Pack {
		p, err := rules.Load(rules.Options{Extra: sig})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	indexed := detectors.NewEngine(newPack().Detectors()...)
	plain := newPack().Detectors()

	f, err := os.Open(filepath.Join(dir, "invictus_sigma_aws_stratus.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	ctx := context.Background()
	events, total := 0, 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		raw := append([]byte(nil), line...)
		ev, err := sources.Normalize(raw, "t")
		if err != nil {
			t.Fatal(err)
		}
		ev2, _ := sources.Normalize(raw, "t")
		events++
		got, err := indexed.Detect(ctx, &ev)
		if err != nil {
			t.Fatal(err)
		}
		var want []detectors.Finding
		for _, d := range plain {
			fs, err := d.Detect(ctx, &ev2)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, fs...)
		}
		if ids(got) != ids(want) {
			t.Fatalf("event %s (%s): indexed engine found [%s], rule by rule [%s]", ev.ID, ev.Action, ids(got), ids(want))
		}
		total += len(got)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if events != 2900 || total == 0 {
		t.Fatalf("%d events, %d findings: want the 2,900 records and some findings", events, total)
	}
	t.Logf("%d events, %d findings, the same both ways", events, total)
}

func ids(fs []detectors.Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.RuleID)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
