package rules

import (
	"context"
	"fmt"
	"testing"

	"github.com/trailhound/trailhound/sources"
)

const sampleRecord = `{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventID":"e1","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventType":"AwsConsoleSignIn","awsRegion":"eu-west-1","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.9","userAgent":"Mozilla/5.0","errorMessage":"Failed authentication","readOnly":false,"userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE"},"responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"}}`

// TestNormalisedFieldsMatchEventField checks that the rule engine's
// allocation-free accessors return what sources.Event.Field returns.
func TestNormalisedFieldsMatchEventField(t *testing.T) {
	ev, err := sources.Normalize([]byte(sampleRecord), "test")
	if err != nil {
		t.Fatal(err)
	}
	ev.LogGroup, ev.LogStream, ev.Message = "g", "s", "m"
	for name, f := range normFields {
		if derivedFields[name] {
			continue
		}
		t.Run(name, func(t *testing.T) {
			got, gotOK := f(&ev)
			want, wantOK := ev.Field(name)
			if name == "time" {
				want = "2024-01-01T00:00:00Z"
			}
			if gotOK != wantOK || wantOK && got != fmt.Sprint(want) {
				t.Fatalf("accessor=%q,%v; Event.Field=%v,%v", got, gotOK, want, wantOK)
			}
		})
	}
}

// TestNoAllocationOnMiss checks the hot path: an event no rule of the
// built-in pack fires on costs no allocation.
func TestNoAllocationOnMiss(t *testing.T) {
	p, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventID":"e1","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2","readOnly":true,"userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333"}}`)
	ev, err := sources.Normalize(raw, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ds := p.Detectors()
	allocs := testing.AllocsPerRun(100, func() {
		for _, d := range ds {
			if fs, _ := d.Detect(ctx, &ev); len(fs) != 0 {
				t.Fatalf("%s fired", d.ID())
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("allocations per event=%v, want 0", allocs)
	}
}
