package replay

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	in := `{"eventVersion":"1.08","eventID":"a1","eventTime":"2024-01-01T00:00:00Z","eventName":"X"}
{"eventTime":"2024-01-01T00:30:00Z","eventName":"Y","eventID":"b2"}
`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Load(path)
	if err != nil || r.Len() != 2 {
		t.Fatalf("Load: %v, %d records", err, r.Len())
	}
	for i, want := range []struct{ id, time string }{
		{"a1-r0", "2024-01-01T00:00:00Z"},
		{"b2-r0", "2024-01-01T00:30:00Z"},
		{"a1-r1", "2024-01-01T01:00:00Z"},
		{"b2-r1", "2024-01-01T01:30:00Z"},
	} {
		var got struct {
			ID   string `json:"eventID"`
			Time string `json:"eventTime"`
			Name string `json:"eventName"`
		}
		if err := json.Unmarshal(r.Record(i), &got); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got.ID != want.id || got.Time != want.time || got.Name == "" {
			t.Errorf("record %d = %+v, want id %s time %s", i, got, want.id, want.time)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}
