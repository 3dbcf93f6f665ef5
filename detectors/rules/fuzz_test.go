package rules_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/sources"
)

// FuzzParse feeds arbitrary rule files to the loader and compiler: they
// must fail with an error, never panic.
func FuzzParse(f *testing.F) {
	// One small rule of each shape; whole built-in files make each run
	// too slow for the fuzzer to explore.
	f.Add([]byte(thresholdRule))
	f.Add([]byte("- id: x\n  title: T\n  severity: low\n  description: D.\n  recommendation: R.\n  reason: \"{a|b|'c'} {{x}}\"\n  match:\n    any:\n      - requestParameters.x: {not_regex: 'a+', nocase: true}\n      - not: {principal.arn: {foreign_account: account}}\n  tests:\n    - {match: true, line: 'x'}\n"))
	bad, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	for _, p := range bad {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defs, err := rules.Parse(data, "fuzz.yaml", "fuzz")
		if err != nil {
			return
		}
		for _, d := range defs {
			_, _ = rules.Compile(d)
		}
	})
}

// FuzzDetect runs the built-in pack over arbitrary CloudTrail-shaped
// records: any record that normalises must be judged without panicking.
func FuzzDetect(f *testing.F) {
	f.Add([]byte(`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userIdentity":{"type":"IAMUser","userName":"a"},"requestParameters":{"userName":["b",1,null,{"x":true}]}}`))
	f.Add([]byte(`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":{"Statement":"*"}}}`))
	p, err := rules.Load(rules.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := sources.Normalize(raw, "fuzz")
		if err != nil {
			return
		}
		for _, r := range p.Rules() {
			_, _ = r.Detect(context.Background(), &ev)
		}
	})
}
