package sqsqueue

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
)

// TestValidURL: queue URLs as SQS gives them (and moto's, over http) are
// accepted; anything without a scheme, host, account and name is not.
func TestValidURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://sqs.eu-west-1.amazonaws.com/123456789012/trailhound", true},
		{"http://127.0.0.1:5000/123456789012/findings-1", true},
		{"https://sqs.eu-west-1.amazonaws.com/123456789012/trailhound/", true},
		{"sqs://nope", false},
		{"https://sqs.eu-west-1.amazonaws.com/trailhound", false},
		{"https://sqs.eu-west-1.amazonaws.com/123456789012/a/b", false},
		{"https:///123456789012/trailhound", false},
		{"trailhound", false},
		{"://", false},
	} {
		if got := ValidURL(tc.url); got != tc.want {
			t.Errorf("ValidURL(%q)=%v, want %v", tc.url, got, tc.want)
		}
	}
}

// TestValidateReceive: zero settings get the defaults; settings out of
// range are refused naming their key.
func TestValidateReceive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		max       int
		vis       configs.Duration
		wantMax   int
		wantVis   time.Duration
		wantError string
	}{
		{"defaults", 0, 0, 500, 7 * time.Minute, ""},
		{"given", 20, configs.Duration(time.Second), 20, time.Second, ""},
		{"too many", 10001, 0, 0, 0, "max_messages: must be between 1 and 10000"},
		{"negative", -1, 0, 0, 0, "max_messages: must be between 1 and 10000"},
		{"too short", 1, configs.Duration(time.Millisecond), 0, 0, "visibility_timeout: must be between 1s and 12h"},
		{"too long", 1, configs.Duration(13 * time.Hour), 0, 0, "visibility_timeout: must be between 1s and 12h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			max, vis := tc.max, tc.vis
			err := ValidateReceive(configs.Section{}, &max, &vis, 7*time.Minute)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err=%v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil || max != tc.wantMax || vis.D() != tc.wantVis {
				t.Fatalf("max=%d vis=%v err=%v, want %d %v", max, vis.D(), err, tc.wantMax, tc.wantVis)
			}
		})
	}
}
