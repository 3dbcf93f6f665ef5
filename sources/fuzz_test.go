package sources

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Normalize(data, "fuzz")
		if err != nil {
			return
		}
		if ev.ID == "" || ev.Time.IsZero() || ev.Action == "" || ev.Service == "" {
			t.Fatalf("accepted record lacks basics: %+v", ev)
		}
		if utf8.Valid(data) {
			if _, ok := ev.Field("requestParameters.x.y"); ok {
				_ = ok
			}
		}
	})
}
