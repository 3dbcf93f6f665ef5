package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic,
// and every event it yields must have an id and a time.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"Records":[` + recA + `,` + recB + `]}`))
	f.Add([]byte(recA + "\n" + recB + "\n"))
	f.Add([]byte("[" + recA + "]"))
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":"1","timestamp":1,"message":"x"}]}`))
	f.Add([]byte(`{"Records":[{"eventTime":`))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	if b, err := os.ReadFile(filepath.Join("..", "configs", "samples", "synthetic-signin-events.jsonl")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &collector{}
		_, _ = Decode(context.Background(), bytes.NewReader(data), "fuzz", "fuzz", c)
		for _, e := range c.events {
			if e.ID == "" {
				t.Fatalf("event without id from %q", data)
			}
			if e.Time.IsZero() && e.Message == "" && len(e.Raw) == 0 {
				t.Fatalf("empty event from %q", data)
			}
		}
		for _, m := range c.malformed {
			if m.Reason == "" || m.Where != "fuzz" {
				t.Fatalf("malformed report without reason: %+v", m)
			}
		}
	})
}

// FuzzNormalize checks the normaliser on arbitrary JSON-ish records.
func FuzzNormalize(f *testing.F) {
	f.Add([]byte(recA))
	f.Add([]byte(recB))
	f.Add([]byte(`{"eventTime":"2023-07-10T11:42:18Z","eventSource":"x","eventName":"y","userIdentity":{"type":"AssumedRole","arn":"/"}}`))
	f.Add([]byte(`{"eventTime":"2023-07-10T11:42:18Z","eventSource":"x","eventName":"y","readOnly":"maybe"}`))
	f.Add([]byte(`{"eventTime":1670787775,"eventName":["y"],"recipientAccountId":111122223333,"userIdentity":[{"accountId":1e3}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Normalize(data, "fuzz")
		if err != nil {
			return
		}
		if ev.ID == "" || ev.Action == "" {
			t.Fatalf("accepted record lacks basics: %+v", ev)
		}
		if ev.Time.IsZero() && !warned(ev.Warnings, "eventTime") || ev.Service == "" && !warned(ev.Warnings, "eventSource") {
			t.Fatalf("time or service missing without a warning: %+v", ev)
		}
		for _, w := range ev.Warnings {
			if field, _, ok := strings.Cut(w, ": "); !ok || field == "" || strings.ContainsAny(field, " \"") {
				t.Fatalf("warning does not start with a field: %q", w)
			}
		}
		if utf8.Valid(data) {
			if _, ok := ev.Field("requestParameters.x.y"); ok {
				_ = ok
			}
		}
	})
}

// shapePaths are the fields of shapeRecord whose type FuzzNormalizeShapes
// changes, deepest first so that a wrapped object holds its changed
// children.
var shapePaths = []string{
	"userIdentity.sessionContext.attributes.mfaAuthenticated",
	"userIdentity.sessionContext.sessionIssuer.userName",
	"userIdentity.sessionContext.attributes",
	"userIdentity.sessionContext.sessionIssuer",
	"responseElements.ConsoleLogin",
	"additionalEventData.MFAUsed",
	"userIdentity.sessionContext",
	"userIdentity.type",
	"userIdentity.principalId",
	"userIdentity.arn",
	"userIdentity.accountId",
	"userIdentity.accessKeyId",
	"userIdentity.userName",
	"userIdentity.invokedBy",
	"userIdentity",
	"additionalEventData",
	"responseElements",
	"eventVersion",
	"eventTime",
	"eventSource",
	"eventName",
	"eventType",
	"awsRegion",
	"sourceIPAddress",
	"userAgent",
	"errorCode",
	"errorMessage",
	"eventID",
	"readOnly",
	"recipientAccountId",
}

const shapeRecord = `{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA1:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","accessKeyId":"ASIA1","userName":"alice","invokedBy":"x.amazonaws.com","sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"},"attributes":{"creationDate":"2022-12-11T19:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2022-12-11T19:42:55Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","userAgent":"Mozilla","errorCode":"x","errorMessage":"y","eventID":"s-1","readOnly":false,"eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333","additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Failure"}}`

// Shapes FuzzNormalizeShapes gives a field, by kinds[i] % shapeKinds.
const (
	shapeKeep = iota
	shapeString
	shapeInteger
	shapeDecimal
	shapeBool
	shapeArrayOfOne
	shapeObject
	shapeNull
	shapeArrayOfTwo
	shapeEmptyArray
	shapeNumericString
	shapeRemoved
	shapeKinds
)

// FuzzNormalizeShapes changes the JSON type of the fields of a valid
// record (string, number, boolean, array, object, null, absent) and checks
// that Normalize never panics, never rejects a record whose eventName is
// usable, and takes the normalised eventName as the Action.
func FuzzNormalizeShapes(f *testing.F) {
	f.Add([]byte{}, "x", int64(0))
	all := func(k byte) []byte { return bytes.Repeat([]byte{k}, len(shapePaths)) }
	for k := byte(0); k < shapeKinds; k++ {
		f.Add(all(k), "2022-12-11 19:42:55", int64(1670787775))
	}
	f.Add(all(shapeInteger), "", int64(111122223333))
	f.Add(all(shapeDecimal), "TRUE", int64(-7))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, "\xff", int64(6683151100492))
	f.Fuzz(func(t *testing.T, kinds []byte, s string, n int64) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(shapeRecord), &rec); err != nil {
			t.Fatal(err)
		}
		strJSON, _ := json.Marshal(s)
		decimal := strconv.FormatFloat(float64(n)/4, 'f', -1, 64)
		nameKind := byte(shapeKeep)
		for i, path := range shapePaths {
			k := byte(shapeKeep)
			if i < len(kinds) {
				k = kinds[i] % shapeKinds
			}
			parts := strings.Split(path, ".")
			parent, ok := rec, true
			for _, p := range parts[:len(parts)-1] {
				if parent, ok = parent[p].(map[string]any); !ok {
					break
				}
			}
			last := parts[len(parts)-1]
			cur, exists := parent[last]
			if !ok || !exists {
				continue
			}
			if path == "eventName" {
				nameKind = k
			}
			orig, err := json.Marshal(cur)
			if err != nil {
				t.Fatal(err)
			}
			var v string
			switch k {
			case shapeKeep:
				continue
			case shapeString:
				v = string(strJSON)
			case shapeInteger:
				v = strconv.FormatInt(n, 10)
			case shapeDecimal:
				v = decimal
			case shapeBool:
				v = strconv.FormatBool(n%2 == 0)
			case shapeArrayOfOne:
				v = "[" + string(orig) + "]"
			case shapeObject:
				v = `{"v":` + string(orig) + "}"
			case shapeNull:
				v = "null"
			case shapeArrayOfTwo:
				v = "[" + string(orig) + "," + string(orig) + "]"
			case shapeEmptyArray:
				v = "[]"
			case shapeNumericString:
				v = strconv.Quote(strconv.FormatInt(n, 10))
			case shapeRemoved:
				delete(parent, last)
				continue
			}
			parent[last] = json.RawMessage(v)
		}
		data, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var decoded string
		_ = json.Unmarshal(strJSON, &decoded)
		want, usable := "", true
		switch nameKind {
		case shapeKeep, shapeArrayOfOne:
			want = "ConsoleLogin"
		case shapeString:
			want, usable = decoded, decoded != ""
		case shapeInteger, shapeNumericString:
			want = strconv.FormatInt(n, 10)
		case shapeDecimal:
			want = decimal
		default:
			usable = false
		}

		ev, err := Normalize(data, "fuzz")
		if !usable {
			if err == nil || !errors.Is(err, ErrNotCloudTrail) || !strings.Contains(err.Error(), "eventName") {
				t.Fatalf("eventName unusable, err=%v, want ErrNotCloudTrail naming eventName\n%s", err, data)
			}
			return
		}
		if err != nil {
			t.Fatalf("rejected a record with eventName %q: %v\n%s", want, err, data)
		}
		if ev.Action != want {
			t.Fatalf("action=%q, want %q\n%s", ev.Action, want, data)
		}
		if ev.ID == "" || !bytes.Equal(ev.Raw, data) {
			t.Fatalf("id=%q raw kept=%v", ev.ID, bytes.Equal(ev.Raw, data))
		}
		if ev.Time.IsZero() && !warned(ev.Warnings, "eventTime") || ev.Service == "" && !warned(ev.Warnings, "eventSource") {
			t.Fatalf("time or service missing without a warning: %q\n%s", ev.Warnings, data)
		}
		for _, w := range ev.Warnings {
			field, _, _ := strings.Cut(w, ":")
			if !slices.Contains(shapePaths, field) {
				t.Fatalf("warning %q does not name a field of the record\n%s", w, data)
			}
		}
		again, _ := Normalize(data, "fuzz")
		if !slices.Equal(again.Warnings, ev.Warnings) || again.ID != ev.ID || !again.Time.Equal(ev.Time) {
			t.Fatalf("Normalize is not deterministic on\n%s", data)
		}
	})
}

// FuzzStrictDecode compares the fast path's decoder (segmentio/encoding)
// with encoding/json on the same object: both accept it or both reject it
// with the same kind of error (a syntax error means "invalid JSON", any
// other sends the record down the lenient path), and what they accept
// decodes to the same record, and to the same map for Event.Field.
func FuzzStrictDecode(f *testing.F) {
	f.Add([]byte(recA))
	f.Add([]byte(recB))
	f.Add([]byte(shapeRecord))
	f.Add([]byte(`{"eventName":"caf\u00e9 \"q\"","readOnly":"true","userIdentity":null} `))
	f.Add([]byte(`{"eventName":"a"} x`))
	f.Add([]byte(`{"EVENTNAME":"a","eventName":"b","eventname":"c"}`))
	f.Add([]byte("{\"eventName\":\"\xff\xfe\",\"eventTime\":\"\xed\xa0\x80\"}"))
	f.Add([]byte(`{"eventName":"a","readOnly":"maybe","recipientAccountId":1}`))
	f.Add([]byte(`{"eventName":"a","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if firstByte(data) != '{' {
			return // Normalize decodes only objects
		}
		var fast, std ctRecord
		ef, es := strictDecode(data, &fast), stdDecode(data, &std)
		if (ef == nil) != (es == nil) {
			t.Fatalf("fast err=%v, encoding/json err=%v", ef, es)
		}
		var sf, ss *json.SyntaxError
		if errors.As(ef, &sf) != errors.As(es, &ss) {
			t.Fatalf("syntax error differs: fast %v, encoding/json %v", ef, es)
		}
		if es == nil && !reflect.DeepEqual(fast, std) {
			t.Fatalf("decoded differently:\nfast %+v\nstd  %+v", fast, std)
		}
		if mf, ms := decodeFields(data), stdDecodeFields(data); !reflect.DeepEqual(mf, ms) {
			t.Fatalf("fields decoded differently:\nfast %v\nstd  %v", mf, ms)
		}
	})
}
