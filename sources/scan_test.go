package sources

import (
	"context"
	"testing"
)

// scanning is a source without FetchRange whose one query scans 42 bytes.
type scanning struct{}

func (scanning) Name() string { return "q" }
func (scanning) Fetch(_ context.Context, _ []byte, sink Sink) ([]byte, error) {
	ReportScanned(sink, 42)
	return nil, nil
}

// TestInWindowPassesScanned: what a source's queries scanned reaches the
// caller's sink through InWindow, and a sink that does not count it is
// left alone.
func TestInWindowPassesScanned(t *testing.T) {
	var got int64
	sink := FuncSink{OnScanned: func(n int64) { got += n }}
	if _, err := InWindow(scanning{}, Window{}).Fetch(context.Background(), nil, sink); err != nil {
		t.Fatal(err)
	}
	if got != 42 {
		t.Fatalf("scanned=%d, want 42", got)
	}
	if _, err := InWindow(scanning{}, Window{}).Fetch(context.Background(), nil, FuncSink{}); err != nil {
		t.Fatal(err)
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1536, "1.5 KiB"}, {12 << 20, "12.0 MiB"}, {3 << 30, "3.0 GiB"}, {5 << 40, "5.0 TiB"}, {3 << 50, "3072.0 TiB"}} {
		if got := FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d)=%q, want %q", tc.n, got, tc.want)
		}
	}
}
