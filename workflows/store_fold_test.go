package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/trailhound/trailhound/detectors"
)

// TestFoldedFindingsAreCounted: findings that fold into an alert opened
// in the same batch are recorded in the audit trail, counted by the
// digest and IngestResult.Folded, and bring their evidence along, up to
// detectors.MaxEvidence events.
func TestFoldedFindingsAreCounted(t *testing.T) {
	s, _ := newStore(t)
	var batch []detectors.Finding
	for i := range 7 {
		f := finding("r1", fmt.Sprintf("fp%d", i), "g1", t0.Add(time.Duration(i)*time.Minute), detectors.Medium)
		f.EventCount = 1
		f.Evidence = []json.RawMessage{json.RawMessage(fmt.Sprintf(`{"eventID":"e%d"}`, i))}
		batch = append(batch, f)
	}
	batch = append(batch, finding("r2", "fp-other", "g2", t0, detectors.Low))
	res := ingest(t, s, batch...)
	if len(res.New) != 2 || res.Folded != 6 {
		t.Fatalf("new=%d folded=%d, want 2 and 6", len(res.New), res.Folded)
	}
	a := res.New[0]
	if a.Count != 7 || a.Finding.EventCount != 7 || len(a.Finding.Evidence) != detectors.MaxEvidence {
		t.Fatalf("alert count=%d events=%d evidence=%d, want 7, 7 and %d", a.Count, a.Finding.EventCount, len(a.Finding.Evidence), detectors.MaxEvidence)
	}
	if got := string(a.Finding.Evidence[1]); got != `{"eventID":"e1"}` {
		t.Fatalf("second evidence=%s, want the second finding's event", got)
	}
	stored, err := s.Get(a.ID)
	if err != nil || stored.Count != 7 || len(stored.Finding.Evidence) != detectors.MaxEvidence {
		t.Fatalf("stored alert=%+v err=%v", stored, err)
	}
	audit, err := s.AuditLog(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[1].Action != "grouped" || audit[1].Note != "count 7" {
		t.Fatalf("audit=%+v, want created then grouped (count 7)", audit)
	}
	// A later batch folds one more: the digest counts every finding once.
	res = ingest(t, s, finding("r1", "fp-late", "g1", t0.Add(time.Hour), detectors.Medium))
	if res.Folded != 1 || len(res.Grouped) != 1 {
		t.Fatalf("later batch folded=%d grouped=%d, want 1 and 1", res.Folded, len(res.Grouped))
	}
	d, err := s.BuildDigest(DigestOptions{Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if d.NewAlerts != 2 || d.Findings != 9 {
		t.Fatalf("digest: %d new alerts from %d findings, want 2 from 9", d.NewAlerts, d.Findings)
	}
}

// TestGroupedMetricCountsFoldedFindings: trailhound_alerts_total{kind=
// "grouped"} counts the findings folded into alerts, those folded into an
// alert of the same poll included.
func TestGroupedMetricCountsFoldedFindings(t *testing.T) {
	grouped := func() float64 {
		var m dto.Metric
		if err := metricAlerts.WithLabelValues("grouped").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	before := grouped()
	observePoll(&Result{Source: "test", Ingest: IngestResult{New: make([]Alert, 2), Folded: 6}}, nil, time.Second, 0, t0)
	if got := grouped() - before; got != 6 {
		t.Fatalf("grouped grew by %v, want 6", got)
	}
}

// TestDigestCountsByEventTime: findings are counted on the day of their
// events, the days they were stored as a second series, so a backfill of
// old logs does not show as one spike on the day it was read.
func TestDigestCountsByEventTime(t *testing.T) {
	s, _ := newStore(t)
	old := time.Date(2021, 5, 3, 10, 0, 0, 0, time.UTC)
	var batch []detectors.Finding
	for i := range 5 {
		batch = append(batch, finding("r1", fmt.Sprintf("old%d", i), fmt.Sprintf("g%d", i), old.Add(time.Duration(i)*24*time.Hour), detectors.High))
	}
	batch = append(batch, finding("r1", "new", "gnew", t0.Add(-time.Hour), detectors.Low))
	ingest(t, s, batch...)
	d, err := s.BuildDigest(DigestOptions{Since: t0.Add(-3 * 24 * time.Hour), Until: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Findings != 6 {
		t.Fatalf("findings=%d, want 6", d.Findings)
	}
	byDay := map[string]DayCount{}
	for _, dc := range d.Days {
		byDay[dc.Day.Format("2006-01-02")] = dc
	}
	for i := range 5 {
		day := old.Add(time.Duration(i) * 24 * time.Hour).Format("2006-01-02")
		if dc := byDay[day]; dc.Findings[detectors.High] != 1 || dc.InPeriod || dc.Stored != 0 {
			t.Fatalf("%s: %+v, want one high finding, outside the period, none stored", day, dc)
		}
	}
	today := byDay[t0.Format("2006-01-02")] // t0 is 09:00: the new finding is of the same day
	if today.Stored != 6 || !today.InPeriod || today.Opened != 6 || today.Total() != 1 || today.Findings[detectors.Low] != 1 {
		t.Fatalf("today=%+v, want 6 stored and opened, one low finding", today)
	}
	if md := d.Markdown(); !strings.Contains(md, "5 findings happened outside the period (late logs or a backfill): 2021-05-03 to 2021-05-07") {
		t.Fatalf("markdown does not say the findings are old:\n%s", md)
	}
}

func TestCompareIDs(t *testing.T) {
	ids := []string{"TH-10", "TH-4", "TH-1", "T-2", "TH-100", "TH-9"}
	slices.SortFunc(ids, CompareIDs)
	if got := strings.Join(ids, " "); got != "T-2 TH-1 TH-4 TH-9 TH-10 TH-100" {
		t.Fatalf("sorted=%s", got)
	}
}

// TestDigestListsAlertsByNumber: alerts of one moment are listed TH-2
// before TH-10.
func TestDigestListsAlertsByNumber(t *testing.T) {
	s, _ := newStore(t)
	var batch []detectors.Finding
	for i := range 11 {
		batch = append(batch, finding("r1", fmt.Sprintf("fp%d", i), fmt.Sprintf("g%d", i), t0, detectors.High))
	}
	ingest(t, s, batch...)
	d, err := s.BuildDigest(DigestOptions{Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour), Top: 20})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range d.Open {
		ids = append(ids, o.ID)
	}
	if got := strings.Join(ids, " "); got != "TH-1 TH-2 TH-3 TH-4 TH-5 TH-6 TH-7 TH-8 TH-9 TH-10 TH-11" {
		t.Fatalf("open alerts in order %s", got)
	}
}
