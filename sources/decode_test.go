package sources

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"github.com/trailhound/trailhound/internal/shareddata"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// collector is a Sink that keeps everything.
type collector struct {
	events    []Event
	malformed []Malformed
}

func (c *collector) Event(_ context.Context, ev *Event) error {
	c.events = append(c.events, *ev)
	return nil
}

func (c *collector) Malformed(m Malformed) { c.malformed = append(c.malformed, m) }

func decode(t *testing.T, data []byte) *collector {
	t.Helper()
	c := &collector{}
	n, err := Decode(context.Background(), bytes.NewReader(data), "input", "test", c)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if n != len(c.events) {
		t.Fatalf("Decode returned %d, sink saw %d events", n, len(c.events))
	}
	return c
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	recA = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2023-07-10T11:42:18Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","userAgent":"aws-cli/2.13","eventID":"a-1","recipientAccountId":"111122223333"}`
	recB = `{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"eventTime":"2023-07-10T11:43:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","eventID":"b-2","additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Success"}}`
)

func TestDecodeFormats(t *testing.T) {
	sub := `{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"trail","logStream":"s1","subscriptionFilters":["f"],"logEvents":[` +
		`{"id":"1","timestamp":1688989338000,"message":` + quote(recA) + `},` +
		`{"id":"2","timestamp":1688989339000,"message":"2 111122223333 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1688989339 1688989399 ACCEPT OK"}]}`
	tests := []struct {
		name    string
		data    []byte
		wantIDs []string
	}{
		{"delivery file", []byte(`{"Records":[` + recA + `,` + recB + `]}`), []string{"a-1", "b-2"}},
		{"delivery file gzip", gz(t, []byte(`{"Records":[`+recA+`,`+recB+`]}`)), []string{"a-1", "b-2"}},
		{"two delivery files concatenated", []byte(`{"Records":[` + recA + `]}` + "\n" + `{"Records":[` + recB + `]}`), []string{"a-1", "b-2"}},
		{"concatenated gzip members", append(gz(t, []byte(`{"Records":[`+recA+`]}`)), gz(t, []byte(`{"Records":[`+recB+`]}`))...), []string{"a-1", "b-2"}},
		{"pretty array", []byte("[\n  " + recA + ",\n  " + recB + "\n]\n"), []string{"a-1", "b-2"}},
		{"json lines", []byte(recA + "\n\n" + recB + "\n"), []string{"a-1", "b-2"}},
		{"json lines without final newline", []byte(recA + "\n" + recB), []string{"a-1", "b-2"}},
		{"pretty single object", []byte("{\n  \"eventVersion\": \"1.08\",\n  \"eventTime\": \"2023-07-10T11:42:18Z\",\n  \"eventSource\": \"s3.amazonaws.com\",\n  \"eventName\": \"PutBucketPolicy\",\n  \"eventID\": \"p-1\"\n}\n"), []string{"p-1"}},
		{"subscription message", []byte(sub), []string{"a-1", "2"}},
		{"subscription messages as lines", []byte(sub + "\n" + sub + "\n"), []string{"a-1", "2", "a-1", "2"}},
		{"empty", nil, nil},
		{"white space", []byte(" \n\t\n"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := decode(t, tc.data)
			if len(c.malformed) > 0 {
				t.Fatalf("malformed: %v", c.malformed)
			}
			var got []string
			for _, e := range c.events {
				got = append(got, e.ID)
			}
			if strings.Join(got, ",") != strings.Join(tc.wantIDs, ",") {
				t.Fatalf("ids=%v, want %v", got, tc.wantIDs)
			}
		})
	}
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func TestDecodeSubscriptionPlainLine(t *testing.T) {
	sub := `{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"vpc-flow","logStream":"eni-1","logEvents":[{"id":"9","timestamp":1688989339000,"message":"GET /index.php?id=1'--"}]}`
	c := decode(t, []byte(sub))
	if len(c.events) != 1 {
		t.Fatalf("events=%d, want 1", len(c.events))
	}
	ev := c.events[0]
	if ev.LogGroup != "vpc-flow" || ev.LogStream != "eni-1" || ev.Account != "111122223333" || ev.Message != "GET /index.php?id=1'--" {
		t.Fatalf("event=%+v", ev)
	}
	if got := ev.Time.Format("2006-01-02T15:04:05Z"); got != "2023-07-10T11:42:19Z" {
		t.Fatalf("time=%s", got)
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		wantEvents int
		wantReason []string // one per malformed report, substring
		wantLine   []int
	}{
		{"bad line among good", recA + "\nnot json\n" + recB + "\n", 2, []string{"invalid JSON"}, []int{2}},
		{"not cloudtrail line", recA + "\n{\"hello\":1}\n", 1, []string{"not a CloudTrail record: missing eventName"}, []int{2}},
		{"unusable event name", strings.Replace(recA, `"CreateUser"`, `{"name":"CreateUser"}`, 1) + "\n" + recB, 1, []string{`not a CloudTrail record: eventName: an object where a string was expected: {"name":"CreateUser"}`}, []int{1}},
		{"truncated delivery file keeps records before", `{"Records":[` + recA + `,` + recB[:40], 1, []string{"corrupt JSON"}, []int{0}},
		{"record of wrong type in array", `[` + recA + `, 42, "x"]`, 1, []string{"not a JSON object: found a number: 42", `not a JSON object: found a string: "x"`}, []int{0, 0}},
		{"top-level scalar", `{"Records":[]}` + "\n" + `17`, 0, []string{"expected a JSON object or array"}, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := decode(t, []byte(tc.data))
			if len(c.events) != tc.wantEvents {
				t.Fatalf("events=%d, want %d (malformed %v)", len(c.events), tc.wantEvents, c.malformed)
			}
			if len(c.malformed) != len(tc.wantReason) {
				t.Fatalf("malformed=%v, want %d reports", c.malformed, len(tc.wantReason))
			}
			for i, m := range c.malformed {
				if !strings.Contains(m.Reason, tc.wantReason[i]) {
					t.Errorf("reason=%q, want it to contain %q", m.Reason, tc.wantReason[i])
				}
				if m.Line != tc.wantLine[i] {
					t.Errorf("line=%d, want %d", m.Line, tc.wantLine[i])
				}
				if m.Where != "input" {
					t.Errorf("where=%q, want input", m.Where)
				}
			}
		})
	}
}

func TestDecodeTooLongLine(t *testing.T) {
	long := `{"eventTime":"` + strings.Repeat("x", MaxRecordBytes) + `"}`
	c := decode(t, []byte(recA+"\n"+long+"\n"+recB+"\n"))
	if len(c.events) != 2 || len(c.malformed) != 1 || !strings.Contains(c.malformed[0].Reason, "longer than") || c.malformed[0].Line != 2 {
		t.Fatalf("events=%d malformed=%v", len(c.events), c.malformed)
	}
}

func TestDecodeSinkErrorStops(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	sink := FuncSink{OnEvent: func(context.Context, *Event) error {
		n++
		return stop
	}}
	_, err := Decode(context.Background(), strings.NewReader(recA+"\n"+recB+"\n"), "input", "t", sink)
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err=%v after %d events, want stop after 1", err, n)
	}
}

func TestDecodeBadGzip(t *testing.T) {
	data := gz(t, []byte(`{"Records":[`+recA+`,`+recB+`]}`))
	data = data[:len(data)-12] // cut the trailer and some data
	c := &collector{}
	_, err := Decode(context.Background(), bytes.NewReader(data), "input", "t", c)
	if err == nil && len(c.malformed) == 0 {
		t.Fatalf("truncated gzip: no error and no malformed report")
	}
}

func TestNormalize(t *testing.T) {
	assumed := `{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:sess","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice-session","accountId":"111122223333","accessKeyId":"ASIA1","sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"},"attributes":{"creationDate":"2023-07-10T11:00:00Z","mfaAuthenticated":"true"}}},"eventTime":"2023-07-10T11:42:18Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.5","userAgent":"Boto3","errorCode":"Client.UnauthorizedOperation","eventID":"c-3","readOnly":false,"recipientAccountId":"444455556666"}`
	failed := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","accountId":"111122223333","userName":"bob"},"eventTime":"2023-07-10T11:50:03Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventID":"d-4","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"}}`
	service := `{"eventVersion":"1.08","userIdentity":{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"},"eventTime":"2023-07-10T11:50:03Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","readOnly":"false"}`
	tests := []struct {
		name  string
		raw   string
		check func(t *testing.T, e Event)
	}{
		{"assumed role", assumed, func(t *testing.T, e Event) {
			if e.Principal.Name != "Admin/alice-session" || e.Principal.Type != "AssumedRole" || e.Principal.AccessKeyID != "ASIA1" {
				t.Errorf("principal=%+v", e.Principal)
			}
			if e.Account != "444455556666" {
				t.Errorf("account=%q, want the recipient account", e.Account)
			}
			if e.MFA == nil || !*e.MFA {
				t.Errorf("mfa=%v, want true from sessionContext", e.MFA)
			}
			if !e.Failed() || e.ErrorCode != "Client.UnauthorizedOperation" {
				t.Errorf("failed=%v code=%q", e.Failed(), e.ErrorCode)
			}
		}},
		{"failed console login", failed, func(t *testing.T, e Event) {
			if !e.Failed() || e.ErrorMessage != "Failed authentication" {
				t.Errorf("failed=%v message=%q", e.Failed(), e.ErrorMessage)
			}
			if e.MFA == nil || *e.MFA {
				t.Errorf("mfa=%v, want false", e.MFA)
			}
			if e.Account != "111122223333" {
				t.Errorf("account=%q, want the identity's account", e.Account)
			}
		}},
		{"service event without id", service, func(t *testing.T, e Event) {
			if e.Principal.Name != "cloudtrail.amazonaws.com" {
				t.Errorf("name=%q", e.Principal.Name)
			}
			if !strings.HasPrefix(e.ID, "synthetic-") {
				t.Errorf("id=%q, want a synthetic id", e.ID)
			}
			e2, _ := Normalize([]byte(service), "x")
			if e2.ID != e.ID {
				t.Errorf("synthetic id not stable: %q vs %q", e.ID, e2.ID)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Normalize([]byte(tc.raw), "src")
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, e)
		})
	}
}

func TestEventField(t *testing.T) {
	e, err := Normalize([]byte(`{"eventVersion":"1.08","eventTime":"2023-07-10T11:42:18Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","eventID":"e","requestParameters":{"bucketName":"b1","AccessControlPolicy":{"Grants":[1]}},"userIdentity":{"type":"Root"},"additionalEventData":{"MFAUsed":"Yes"}}`), "s")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"action", "PutBucketAcl", true},
		{"principal.type", "Root", true},
		{"principal.name", "root", true},
		{"mfa", true, true},
		{"requestParameters.bucketName", "b1", true},
		{"requestParameters.missing", nil, false},
		{"requestParameters.bucketName.deeper", nil, false},
		{"source_ip", "", false},
	}
	for _, tc := range tests {
		got, ok := e.Field(tc.path)
		if ok != tc.ok || tc.ok && got != tc.want {
			t.Errorf("Field(%q)=%v,%v, want %v,%v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDecodeRealData(t *testing.T) {
	dir := shareddata.Path(t, "")
	t.Run("invictus jsonl", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dir, "invictus_sigma_aws_stratus", "invictus_sigma_aws_stratus.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		c := decode(t, b)
		if len(c.events) != 2900 || len(c.malformed) != 0 {
			t.Fatalf("events=%d malformed=%d, want 2900 and 0", len(c.events), len(c.malformed))
		}
		for _, e := range c.events {
			if e.Principal.Type == "" && e.EventType != "AwsServiceEvent" {
				t.Fatalf("event %s has no principal type", e.ID)
			}
		}
	})
	t.Run("invictus delivery files", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dir, "invictus_sigma_aws_stratus", "original", "*.json"))
		total := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c := decode(t, b)
			if len(c.malformed) > 0 {
				t.Fatalf("%s: %v", f, c.malformed)
			}
			total += len(c.events)
		}
		if total != 2900 {
			t.Fatalf("events=%d, want 2900", total)
		}
	})
	t.Run("stratus arrays", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dir, "stratus_red_team_detonation_logs", "*.json"))
		total := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c := decode(t, b)
			if len(c.malformed) > 0 {
				t.Fatalf("%s: %v", f, c.malformed)
			}
			total += len(c.events)
		}
		if total != 310 {
			t.Fatalf("events=%d, want 310", total)
		}
	})
}
