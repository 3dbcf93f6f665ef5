package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// awsEnv gives the AWS SDK static test credentials and no shared files.
func awsEnv(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"), "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

// lookupServer answers CloudTrail LookupEvents in AWS's JSON protocol: a
// root sign-in for one region, AccessDeniedException for another.
func lookupServer(t *testing.T, deniedRegion string) *httptest.Server {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "CloudTrail_20131101.LookupEvents" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"UnknownOperationException"}`)
			return
		}
		if strings.Contains(r.Header.Get("Authorization"), "/"+deniedRegion+"/") {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"User is not authorized to perform: cloudtrail:LookupEvents"}`)
			return
		}
		rec, _ := json.Marshal(map[string]any{
			"eventVersion": "1.08", "eventTime": time.Now().UTC().Add(-5 * time.Minute).Format(time.RFC3339), "eventID": "root-signin-1",
			"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.23",
			"eventType": "AwsConsoleSignIn", "recipientAccountId": "111122223333", "responseElements": map[string]string{"ConsoleLogin": "Success"},
			"userIdentity": map[string]string{"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
		})
		json.NewEncoder(w).Encode(map[string]any{"Events": []map[string]any{{
			"EventId": "root-signin-1", "EventName": "ConsoleLogin", "EventSource": "signin.amazonaws.com", "ReadOnly": "false",
			"EventTime": float64(time.Now().Add(-5 * time.Minute).Unix()), "CloudTrailEvent": string(rec),
		}}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func writeAWSConfig(t *testing.T, dir, endpoint string) string {
	t.Helper()
	cfg := fmt.Sprintf(`data_dir: %s
notify: {terminal: "true"}
sources:
  - name: ct
    type: cloudtrail
    schedule: "@every 2m"
    options:
      endpoint_url: %s
      max_attempts: 3
      max_backoff: 10ms
      regions: [eu-west-1, us-east-1]
      accounts:
        - {id: "111111111111"}
        - {id: "222222222222"}
  - name: logs
    type: cloudwatch
    schedule: "@every 7m"
    options: {endpoint_url: %s, regions: [eu-west-1], log_groups: [app], max_backoff: 10ms}
`, filepath.Join(dir, "data"), endpoint, endpoint)
	path := filepath.Join(dir, "trailhound.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAWSEntriesFanOutWithOwnSchedules(t *testing.T) {
	awsEnv(t)
	dir := t.TempDir()
	cfg, err := loadConfig(writeAWSConfig(t, dir, "http://127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, tc := range []struct {
		only []string
		want string
	}{
		{nil, "[ct/111111111111/eu-west-1@@every 2m ct/111111111111/us-east-1@@every 2m ct/222222222222/eu-west-1@@every 2m ct/222222222222/us-east-1@@every 2m logs/eu-west-1@@every 7m]"},
		{[]string{"ct/222222222222/us-east-1"}, "[ct/222222222222/us-east-1@@every 2m]"},
		{[]string{"logs", "ct/111111111111/eu-west-1"}, "[ct/111111111111/eu-west-1@@every 2m logs/eu-west-1@@every 7m]"},
	} {
		t.Run(strings.Join(tc.only, ","), func(t *testing.T) {
			srcs, err := a.buildSources(tc.only)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range srcs {
				got = append(got, s.Name()+"@"+a.entries[s.Name()].Schedule)
			}
			sort.Strings(got)
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("sources=%v, want %s", got, tc.want)
			}
		})
	}
	if _, err := a.buildSources([]string{"ct/333333333333/eu-west-1"}); err == nil || !strings.Contains(err.Error(), `no source named "ct/333333333333/eu-west-1"`) {
		t.Fatalf("err=%v, want no such source", err)
	}
}

func TestRunOnceThenSourcesStatus(t *testing.T) {
	awsEnv(t)
	dir := t.TempDir()
	srv := lookupServer(t, "us-east-1")
	cfg := writeAWSConfig(t, dir, srv.URL)
	code, out, errOut := runCLI(t, "run", "--once", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "Root user activity") {
		t.Fatalf("run --once exit=%d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "sources", "--config", cfg)
	if code != exitOK {
		t.Fatalf("sources exit=%d\n%s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "SOURCE") || len(lines) < 7 {
		t.Fatalf("sources output:\n%s", out)
	}
	row := func(name string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, name+" ") {
				return l
			}
		}
		t.Fatalf("no row for %s in\n%s", name, out)
		return ""
	}
	if r := row("ct/111111111111/us-east-1"); !strings.Contains(r, " yes ") || !strings.Contains(r, "AccessDeniedException") {
		t.Fatalf("denied row=%q, want permanent AccessDeniedException", r)
	}
	if r := row("ct/111111111111/eu-west-1"); strings.Contains(r, " yes ") || !strings.Contains(r, "cloudtrail") || strings.Contains(r, "never (") {
		t.Fatalf("healthy row=%q, want a successful poll", r)
	}
	if !strings.Contains(out, "permanent-error: Source ct/111111111111/us-east-1 cannot be read") {
		t.Fatalf("problems missing:\n%s", out)
	}
	code, out, _ = runCLI(t, "sources", "--config", cfg, "--format", "json")
	var rep struct {
		Sources []struct {
			Source    string `json:"source"`
			Type      string `json:"type"`
			Events    int    `json:"events"`
			Permanent bool   `json:"permanent"`
		} `json:"sources"`
		Problems []struct {
			Source string `json:"source"`
			Kind   string `json:"kind"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK {
		t.Fatalf("json: %v\n%s", err, out)
	}
	kinds := map[string]string{}
	for _, p := range rep.Problems {
		kinds[p.Source] = p.Kind
	}
	if len(rep.Sources) != 5 || kinds["ct/222222222222/us-east-1"] != "permanent-error" || kinds["logs/eu-west-1"] == "" || kinds["ct/222222222222/eu-west-1"] != "" {
		t.Fatalf("report=%+v, want 5 sources, denied and failing ones as problems, healthy ones not", rep)
	}
}
