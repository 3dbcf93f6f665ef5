package sources

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// recFull is a well-formed CloudTrail record touching every field
// Normalize reads.
const recFull = `{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA1:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","accessKeyId":"ASIA1","sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"},"attributes":{"creationDate":"2022-12-11T19:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2022-12-11T19:42:55Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","userAgent":"aws-cli/2.13","eventID":"full-1","readOnly":false,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`

// withFields returns recFull with the values at the dotted paths replaced
// by raw JSON; a value of "-" removes the field.
func withFields(t testing.TB, mods map[string]string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(recFull), &m); err != nil {
		t.Fatal(err)
	}
	for path, v := range mods {
		parts := strings.Split(path, ".")
		cur := m
		for _, p := range parts[:len(parts)-1] {
			cur = cur[p].(map[string]any)
		}
		last := parts[len(parts)-1]
		if v == "-" {
			delete(cur, last)
			continue
		}
		if !json.Valid([]byte(v)) {
			t.Fatalf("%s: invalid JSON %s", path, v)
		}
		cur[last] = json.RawMessage(v)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNormalizeLenient(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	base := at("2022-12-11T19:42:55Z")
	yes, no := true, false
	tests := []struct {
		name  string
		mods  map[string]string
		check func(e Event) (got, want any) // compared with ==; nil to skip
		warns []string
	}{
		// Times: normalised without warnings.
		{"RFC 3339", nil, func(e Event) (any, any) { return e.Time, base }, nil},
		{"space-separated time", map[string]string{"eventTime": `"2022-12-11 19:42:55"`}, func(e Event) (any, any) { return e.Time, base }, nil},
		{"space-separated time with fraction", map[string]string{"eventTime": `"2022-12-11 19:42:55.25"`}, func(e Event) (any, any) { return e.Time, at("2022-12-11T19:42:55.25Z") }, nil},
		{"space-separated time with UTC", map[string]string{"eventTime": `"2022-12-11 19:42:55 UTC"`}, func(e Event) (any, any) { return e.Time, base }, nil},
		{"no zone", map[string]string{"eventTime": `"2022-12-11T19:42:55"`}, func(e Event) (any, any) { return e.Time, base }, nil},
		{"no zone with fraction", map[string]string{"eventTime": `"2022-12-11T19:42:55.123456"`}, func(e Event) (any, any) { return e.Time, at("2022-12-11T19:42:55.123456Z") }, nil},
		{"fraction and Z", map[string]string{"eventTime": `"2022-12-11T19:42:55.123Z"`}, func(e Event) (any, any) { return e.Time, at("2022-12-11T19:42:55.123Z") }, nil},
		{"offset", map[string]string{"eventTime": `"2022-12-11T21:42:55+02:00"`}, func(e Event) (any, any) { return e.Time, base }, nil},
		{"offset without colon", map[string]string{"eventTime": `"2022-12-11 21:42:55+0200"`}, func(e Event) (any, any) { return e.Time, base }, nil},
		{"epoch seconds number", map[string]string{"eventTime": `1670787775`}, func(e Event) (any, any) { return e.Time, base }, nil},
		{"epoch seconds number with exponent", map[string]string{"eventTime": `1.670787775e9`}, func(e Event) (any, any) { return e.Time, base }, nil},
		{"epoch seconds with fraction", map[string]string{"eventTime": `1670787775.5`}, func(e Event) (any, any) { return e.Time, at("2022-12-11T19:42:55.5Z") }, nil},
		{"epoch milliseconds number", map[string]string{"eventTime": `1670787775123`}, func(e Event) (any, any) { return e.Time, at("2022-12-11T19:42:55.123Z") }, nil},
		{"epoch seconds string", map[string]string{"eventTime": `"1670787775"`}, func(e Event) (any, any) { return e.Time, base }, nil},
		{"epoch milliseconds string", map[string]string{"eventTime": `"1670787775123"`}, func(e Event) (any, any) { return e.Time, at("2022-12-11T19:42:55.123Z") }, nil},
		{"time in a one-element array", map[string]string{"eventTime": `["2022-12-11 19:42:55"]`}, func(e Event) (any, any) { return e.Time, base }, nil},

		// Booleans as strings, in any case.
		{"readOnly string true", map[string]string{"readOnly": `"true"`}, func(e Event) (any, any) { return e.ReadOnly, true }, nil},
		{"readOnly string mixed case", map[string]string{"readOnly": `"tRuE"`}, func(e Event) (any, any) { return e.ReadOnly, true }, nil},
		{"readOnly string false", map[string]string{"readOnly": `"FALSE"`, "recipientAccountId": `111122223333`}, func(e Event) (any, any) { return e.ReadOnly, false }, nil},
		{"readOnly in an array", map[string]string{"readOnly": `[true]`}, func(e Event) (any, any) { return e.ReadOnly, true }, nil},
		{"mfaAuthenticated string", map[string]string{"userIdentity.sessionContext.attributes.mfaAuthenticated": `"True"`}, func(e Event) (any, any) { return *e.MFA, yes }, nil},
		{"mfaAuthenticated string beside a number", map[string]string{"userIdentity.sessionContext.attributes.mfaAuthenticated": `"true"`, "userIdentity.accountId": `111122223333`}, func(e Event) (any, any) { return *e.MFA, yes }, nil},
		{"mfaAuthenticated JSON false", map[string]string{"userIdentity.sessionContext.attributes.mfaAuthenticated": `false`}, func(e Event) (any, any) { return *e.MFA, no }, nil},

		// One-element arrays where a string is expected.
		{"eventName array", map[string]string{"eventName": `["ConsoleLogin"]`}, func(e Event) (any, any) { return e.Action, "ConsoleLogin" }, nil},
		{"eventSource array", map[string]string{"eventSource": `["signin.amazonaws.com"]`}, func(e Event) (any, any) { return e.Service, "signin.amazonaws.com" }, nil},
		{"sourceIPAddress array", map[string]string{"sourceIPAddress": `[ "203.0.113.9" ]`}, func(e Event) (any, any) { return e.SourceIP, "203.0.113.9" }, nil},
		{"userIdentity.type array", map[string]string{"userIdentity.type": `["IAMUser"]`, "userIdentity.userName": `"bob"`}, func(e Event) (any, any) {
			return e.Principal.Type + " " + e.Principal.Name, "IAMUser bob"
		}, nil},
		{"userIdentity in an array", map[string]string{"userIdentity": `[{"type":"Root","arn":"arn:aws:iam::111122223333:root"}]`}, func(e Event) (any, any) { return e.Principal.Name, "root" }, nil},

		// Numbers where strings are expected.
		{"numeric recipientAccountId", map[string]string{"recipientAccountId": `444455556666`}, func(e Event) (any, any) { return e.Account, "444455556666" }, nil},
		{"numeric recipientAccountId with exponent", map[string]string{"recipientAccountId": `4.44455556666e11`}, func(e Event) (any, any) { return e.Account, "444455556666" }, nil},
		{"numeric accountId", map[string]string{"recipientAccountId": "-", "userIdentity.accountId": `111122223333`}, func(e Event) (any, any) {
			return e.Principal.AccountID + " " + e.Account, "111122223333 111122223333"
		}, nil},
		{"non-integral number", map[string]string{"userAgent": `1.5`}, func(e Event) (any, any) { return e.UserAgent, "1.5" }, nil},
		{"null is absent", map[string]string{"sourceIPAddress": `null`, "readOnly": `null`}, func(e Event) (any, any) { return e.SourceIP, "" }, nil},

		// Unusable values: kept empty, warned, the record judged.
		{"object where a string was expected", map[string]string{"sourceIPAddress": `{"ip": "203.0.113.9"}`}, func(e Event) (any, any) { return e.SourceIP + e.Action, "CreateUser" },
			[]string{`sourceIPAddress: an object where a string was expected: {"ip":"203.0.113.9"}`}},
		{"boolean where a string was expected", map[string]string{"userAgent": `true`}, func(e Event) (any, any) { return e.UserAgent, "" },
			[]string{`userAgent: a boolean where a string was expected: true`}},
		{"array of two", map[string]string{"sourceIPAddress": `["203.0.113.9","198.51.100.1"]`}, func(e Event) (any, any) { return e.SourceIP, "" },
			[]string{`sourceIPAddress: an array of 2 values where a string was expected: ["203.0.113.9","198.51.100.1"]`}},
		{"empty array", map[string]string{"awsRegion": `[]`}, func(e Event) (any, any) { return e.Region, "" },
			[]string{`awsRegion: an array of 0 values where a string was expected: []`}},
		{"long value is truncated", map[string]string{"userAgent": `{"a":"` + strings.Repeat("x", 100) + `"}`}, nil,
			[]string{`userAgent: an object where a string was expected: {"a":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…`}},
		{"not a boolean", map[string]string{"readOnly": `"maybe"`}, func(e Event) (any, any) { return e.ReadOnly, false },
			[]string{`readOnly: "maybe" is not a boolean`}},
		{"mfaAuthenticated not a boolean", map[string]string{"userIdentity.sessionContext.attributes.mfaAuthenticated": `{}`}, func(e Event) (any, any) { return e.MFA == nil, true },
			[]string{`userIdentity.sessionContext.attributes.mfaAuthenticated: {} is not a boolean`}},
		{"userIdentity a string", map[string]string{"userIdentity": `"alice"`}, func(e Event) (any, any) { return e.Principal, Principal{} },
			[]string{`userIdentity: a string where an object was expected: "alice"`}},
		{"unreadable time", map[string]string{"eventTime": `"yesterday"`}, func(e Event) (any, any) { return e.Time.IsZero(), true },
			[]string{`eventTime: "yesterday" is not a time`}},
		{"missing time", map[string]string{"eventTime": "-"}, func(e Event) (any, any) { return e.Time.IsZero(), true },
			[]string{`eventTime: missing`}},
		{"time an object", map[string]string{"eventTime": `{"t":1}`}, func(e Event) (any, any) { return e.Time.IsZero(), true },
			[]string{`eventTime: an object where a string was expected: {"t":1}`}},
		{"epoch too large", map[string]string{"eventTime": `1670787775123456`}, func(e Event) (any, any) { return e.Time.IsZero(), true },
			[]string{`eventTime: "1670787775123456" is not a time`}},
		{"missing eventSource", map[string]string{"eventSource": "-"}, func(e Event) (any, any) { return e.Service + e.Action, "CreateUser" },
			[]string{`eventSource: missing`}},
		{"several at once", map[string]string{"eventSource": `7`, "eventTime": "-", "errorCode": `{"code":"x"}`, "recipientAccountId": `111122223333`}, func(e Event) (any, any) {
			return e.Service + " " + e.Account + " " + e.ErrorCode, "7 111122223333 "
		}, []string{`errorCode: an object where a string was expected: {"code":"x"}`, `eventTime: missing`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := withFields(t, tc.mods)
			e, err := Normalize(raw, "src")
			if err != nil {
				t.Fatalf("Normalize: %v\n%s", err, raw)
			}
			if tc.check != nil {
				if got, want := tc.check(e); got != want {
					t.Errorf("got %v, want %v", got, want)
				}
			}
			if !slices.Equal(e.Warnings, tc.warns) {
				t.Errorf("warnings=%q, want %q", e.Warnings, tc.warns)
			}
			if e.Action == "" || e.ID == "" || string(e.Raw) != string(raw) {
				t.Errorf("event lacks basics: action=%q id=%q raw kept=%v", e.Action, e.ID, string(e.Raw) == string(raw))
			}
		})
	}
}

// TestNormalizeLenientKeepsOtherFields checks that a record read on the
// slow path yields the same event as its well-formed twin.
func TestNormalizeLenientKeepsOtherFields(t *testing.T) {
	want, err := Normalize([]byte(recFull), "src")
	if err != nil {
		t.Fatal(err)
	}
	raw := withFields(t, map[string]string{"recipientAccountId": `111122223333`, "readOnly": `"false"`})
	got, err := Normalize(raw, "src")
	if err != nil {
		t.Fatal(err)
	}
	got.Raw, want.Raw = nil, nil
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) || got.Warnings != nil {
		t.Fatalf("lenient event=%s warnings=%q\nwant %s", gj, got.Warnings, wj)
	}
}

func TestNormalizeRejects(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
		ct   bool // errors.Is ErrNotCloudTrail
	}{
		{"not JSON", `eventName=ConsoleLogin`, "invalid JSON", false},
		{"truncated", recFull[:60], "invalid JSON", false},
		{"empty", ``, "invalid JSON", false},
		{"a number", `42`, "not a JSON object: found a number: 42", false},
		{"an array", `[` + recFull + `]`, `not a JSON object: found an array: [{"eventVersion":"1.08","userIdentity":{…`, false},
		{"null", `null`, "not a JSON object: found null", false},
		{"no eventName", string(withFields(t, map[string]string{"eventName": "-"})), "not a CloudTrail record: missing eventName", true},
		{"empty eventName", string(withFields(t, map[string]string{"eventName": `""`})), "not a CloudTrail record: missing eventName", true},
		{"null eventName", string(withFields(t, map[string]string{"eventName": `null`})), "not a CloudTrail record: missing eventName", true},
		{"eventName an object", string(withFields(t, map[string]string{"eventName": `{"n":"CreateUser"}`})), `not a CloudTrail record: eventName: an object where a string was expected: {"n":"CreateUser"}`, true},
		{"eventName a boolean", string(withFields(t, map[string]string{"eventName": `true`})), `not a CloudTrail record: eventName: a boolean where a string was expected: true`, true},
		{"eventName two names", string(withFields(t, map[string]string{"eventName": `["A","B"]`})), `not a CloudTrail record: eventName: an array of 2 values where a string was expected: ["A","B"]`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Normalize([]byte(tc.raw), "src")
			if err == nil {
				t.Fatalf("accepted %s", tc.raw)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err=%q, want it to start with %q", err, tc.want)
			}
			if got := errors.Is(err, ErrNotCloudTrail); got != tc.ct {
				t.Errorf("errors.Is(ErrNotCloudTrail)=%v, want %v", got, tc.ct)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // RFC 3339 in UTC; empty: refused
	}{
		{"2022-12-11T19:42:55Z", "2022-12-11T19:42:55Z"},
		{" 2022-12-11t19:42:55z ", "2022-12-11T19:42:55Z"},
		{"2022-12-11T19:42:55,5", "2022-12-11T19:42:55.5Z"},
		{"2022-12-11T19:42:55.1234567891Z", "2022-12-11T19:42:55.123456789Z"},
		{"2022-12-11 19:42:55 GMT", "2022-12-11T19:42:55Z"},
		{"2022-12-11T14:42:55-05", "2022-12-11T19:42:55Z"},
		{"2022-12-11T14:42:55 -05:00", "2022-12-11T19:42:55Z"},
		{"1670787775000", "2022-12-11T19:42:55Z"},
		{"1670787775123.5", "2022-12-11T19:42:55.1235Z"},
		{"2022-12-11", ""},
		{"2022-12-11T19:42", ""},
		{"2022-12-11T19:42:55.", ""},
		{"2022-12-11T19:42:55 CET", ""},
		{"2022-13-11T19:42:55Z", ""},
		{"0", ""},
		{"-1670787775", ""},
		{"1670787775e3", ""},
		{"20221211194255", ""},
		{"12345", ""},
		{"167078777512", ""},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseTime(tc.in)
			switch {
			case tc.want == "" && ok:
				t.Fatalf("parseTime(%q)=%v, want refused", tc.in, got)
			case tc.want != "" && !ok:
				t.Fatalf("parseTime(%q) refused, want %s", tc.in, tc.want)
			case ok && got.Format(time.RFC3339Nano) != tc.want:
				t.Fatalf("parseTime(%q)=%s, want %s", tc.in, got.Format(time.RFC3339Nano), tc.want)
			}
		})
	}
}

// TestDecodeWarnings checks that records with unusable or odd fields are
// decoded, counted as read with warnings and not dropped, in JSON Lines
// and in delivery files.
func TestDecodeWarnings(t *testing.T) {
	spaced := string(withFields(t, map[string]string{"eventID": `"w-1"`, "eventTime": `"2022-12-11 19:42:55"`, "recipientAccountId": `111122223333`, "readOnly": `"true"`}))
	objIP := string(withFields(t, map[string]string{"eventID": `"w-2"`, "sourceIPAddress": `{"ip":"203.0.113.9"}`}))
	noTime := string(withFields(t, map[string]string{"eventID": `"w-3"`, "eventTime": "-", "eventSource": "-"}))
	noName := string(withFields(t, map[string]string{"eventID": `"w-4"`, "eventName": "-"}))
	wantWarn := map[string][]string{
		"w-2": {`sourceIPAddress: an object where a string was expected: {"ip":"203.0.113.9"}`},
		"w-3": {"eventSource: missing", "eventTime: missing"},
	}
	for _, tc := range []struct {
		name    string
		data    string
		wantBad string
	}{
		{"json lines", recA + "\n" + spaced + "\n" + objIP + "\n" + noTime + "\n" + noName + "\nnot json\n", "invalid JSON"},
		{"delivery file", `{"Records":[` + recA + "," + spaced + "," + objIP + "," + noTime + "," + noName + `,"not json"]}`, `not a JSON object: found a string: "not json"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := decode(t, []byte(tc.data))
			var ids []string
			warned := 0
			for _, e := range c.events {
				ids = append(ids, e.ID)
				if len(e.Warnings) > 0 {
					warned++
				}
				if !slices.Equal(e.Warnings, wantWarn[e.ID]) {
					t.Errorf("%s: warnings=%q, want %q", e.ID, e.Warnings, wantWarn[e.ID])
				}
			}
			if got, want := strings.Join(ids, ","), "a-1,w-1,w-2,w-3"; got != want {
				t.Fatalf("events=%s, want %s (malformed %v)", got, want, c.malformed)
			}
			if warned != 2 {
				t.Errorf("warned=%d, want 2", warned)
			}
			if got := c.events[1]; got.Account != "111122223333" || !got.ReadOnly || got.Time.Format(time.RFC3339) != "2022-12-11T19:42:55Z" {
				t.Errorf("w-1 account=%q read_only=%v time=%v", got.Account, got.ReadOnly, got.Time)
			}
			if len(c.malformed) != 2 || !strings.Contains(c.malformed[0].Reason, "not a CloudTrail record: missing eventName") || !strings.Contains(c.malformed[1].Reason, tc.wantBad) {
				t.Errorf("malformed=%v, want missing eventName and %q", c.malformed, tc.wantBad)
			}
		})
	}
}

// TestLogEventTimeFallback checks that a CloudTrail record in CloudWatch
// Logs without a usable eventTime takes the log event's timestamp.
func TestLogEventTimeFallback(t *testing.T) {
	msg := string(withFields(t, map[string]string{"eventTime": `"yesterday"`}))
	ev, err := LogEvent("1", "1670787775000", msg, "trail", "s", "111122223333", "cw")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ev.Time.Format(time.RFC3339), "2022-12-11T19:42:55Z"; got != want {
		t.Errorf("time=%s, want %s", got, want)
	}
	if ev.Action != "CreateUser" || ev.LogGroup != "trail" {
		t.Errorf("action=%q group=%q, want a CloudTrail event", ev.Action, ev.LogGroup)
	}
	if want := []string{`eventTime: "yesterday" is not a time; used the log event's timestamp`}; !slices.Equal(ev.Warnings, want) {
		t.Errorf("warnings=%q, want %q", ev.Warnings, want)
	}
}

type listSource []Event

func (s listSource) Name() string { return "list" }

func (s listSource) Fetch(ctx context.Context, _ []byte, sink Sink) ([]byte, error) {
	for i := range s {
		if err := sink.Event(ctx, &s[i]); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// TestInWindowKeepsUntimed checks that an event whose time is unknown is
// judged by a windowed read instead of being dropped as out of range.
func TestInWindowKeepsUntimed(t *testing.T) {
	t0 := time.Date(2022, 12, 11, 0, 0, 0, 0, time.UTC)
	src := listSource{
		{ID: "before", Time: t0.Add(-time.Hour)},
		{ID: "inside", Time: t0.Add(time.Hour)},
		{ID: "untimed"},
		{ID: "after", Time: t0.Add(48 * time.Hour)},
	}
	var got []string
	_, err := InWindow(src, Window{Start: t0, End: t0.Add(24 * time.Hour)}).Fetch(context.Background(), nil, FuncSink{OnEvent: func(_ context.Context, ev *Event) error {
		got = append(got, ev.ID)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "inside,untimed" {
		t.Fatalf("events=%v, want [inside untimed]", got)
	}
}
