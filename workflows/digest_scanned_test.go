package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources"
)

// TestDigestShowsBytesScanned: a source whose queries scan data (Athena)
// shows what they scanned, in all and in the last poll, in both renderings
// of the digest; other sources show nothing of it.
func TestDigestShowsBytesScanned(t *testing.T) {
	s, _ := newStore(t)
	t0 := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	health := []sources.Health{
		{Source: "trail-athena", LastSuccess: t0.Add(-time.Hour), Events: 120, BytesScanned: 3 << 30, LastBytesScanned: 12 << 20},
		{Source: "files", LastSuccess: t0.Add(-time.Hour), Events: 7},
	}
	d, err := s.BuildDigest(DigestOptions{Since: t0.Add(-24 * time.Hour), Until: t0, Health: health})
	if err != nil {
		t.Fatal(err)
	}
	want := "queries scanned 3.0 GiB in all, 12.0 MiB in the last poll"
	for name, text := range map[string]string{"text": d.Text(), "markdown": d.Markdown()} {
		lines := strings.Split(text, "\n")
		var athena, files string
		for _, l := range lines {
			if strings.Contains(l, "trail-athena") {
				athena = l
			}
			if strings.Contains(l, "files") {
				files = l
			}
		}
		if !strings.Contains(athena, want) {
			t.Errorf("%s: athena line %q lacks %q", name, athena, want)
		}
		if strings.Contains(files, "scanned") {
			t.Errorf("%s: files line %q speaks of bytes scanned", name, files)
		}
	}
}
