package anomaly

import (
	"bufio"
	"encoding/json"
	"github.com/trailhound/trailhound/internal/shareddata"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// invictus reads the invictus-ir Sigma-AWS CloudTrail records (one account,
// 2023-07-10 11:42-12:37 UTC, Stratus Red Team detonations plus
// background), in time order.
func invictus(t testing.TB) []*sources.Event {
	t.Helper()
	path := filepath.Join(shareddata.Path(t, "invictus_sigma_aws_stratus"), "invictus_sigma_aws_stratus.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*sources.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		ev, err := sources.Normalize(line, "invictus")
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, &ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// stratus reports whether a record is Stratus Red Team's (its user agent
// carries stratus-red-team_<uuid>): the dataset's only labels.
func stratus(ev *sources.Event) bool { return strings.Contains(ev.UserAgent, "stratus-red-team") }

// TestInvictusBackground runs the detectors over the background (non-
// Stratus) events of the invictus dataset. The dataset spans 55 minutes,
// too short for the default learning period (7 days, 50 events): with it
// nothing can fire. So the test also learns the first half hour as a
// baseline, with the learning period shrunk to 10 minutes and 20 events,
// and judges the second half, where bert-jan signs in to the console and
// Terraform tears down resources; that must raise at most 2 alerts
// (findings grouped as the workflow groups them).
func TestInvictusBackground(t *testing.T) {
	all := invictus(t)
	var bg []*sources.Event
	for _, ev := range all {
		if !stratus(ev) {
			bg = append(bg, ev)
		}
	}
	first, last := bg[0].Time, bg[len(bg)-1].Time
	mid := first.Add(last.Sub(first) / 2)
	var learnPart, judgePart []*sources.Event
	for _, ev := range bg {
		if ev.Time.Before(mid) {
			learnPart = append(learnPart, ev)
		} else {
			judgePart = append(judgePart, ev)
		}
	}
	short := DefaultConfig()
	short.Learning.MinAge = configs.Duration(10 * time.Minute)
	short.Learning.MinEvents = 20
	tests := []struct {
		name      string
		cfg       Config
		maxAlerts int
	}{
		{"default learning period", DefaultConfig(), 0},
		{"learning period shrunk to the dataset", short, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSuite(t, nil, tc.cfg)
			learnAll(s, learnPart)
			var fs []detectors.Finding
			for _, ev := range judgePart {
				fs = append(fs, detect(t, s, ev)...)
			}
			groups := map[string][]detectors.Finding{}
			for _, f := range fs {
				groups[f.GroupKey] = append(groups[f.GroupKey], f)
			}
			t.Logf("background: %d events learned (%s..%s), %d judged: %d findings in %d alerts",
				len(learnPart), first.Format("15:04:05"), mid.Format("15:04:05"), len(judgePart), len(fs), len(groups))
			for _, g := range groups {
				t.Logf("  alert %s (%d findings):", g[0].RuleID, len(g))
				for _, f := range g {
					t.Logf("    %s %s", f.Severity, f.Reason)
				}
			}
			if len(groups) > tc.maxAlerts {
				t.Fatalf("alerts=%d, want at most %d", len(groups), tc.maxAlerts)
			}
		})
	}
}

// TestStratusDetonations replays each Stratus Red Team detonation log
// (one attack technique per file, every record malicious) as the
// activity of principals that have a normal baseline: two weeks of
// week-day CLI work from their usual address and region. The logs carry
// no benign history of their own (accounts, addresses and regions are
// anonymised per file), so the baseline is made up; what the test checks
// is that the attack, judged against it, is found.
func TestStratusDetonations(t *testing.T) {
	dir := shareddata.Path(t, "stratus_red_team_detonation_logs")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no detonation logs in %s: %v", dir, err)
	}
	detected := 0
	for _, file := range files {
		technique := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(technique, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var raws []json.RawMessage
			if err := json.Unmarshal(b, &raws); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			var evs []*sources.Event
			for _, r := range raws {
				ev, err := sources.Normalize(r, "stratus")
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				evs = append(evs, &ev)
			}
			sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
			s := newSuite(t, nil, DefaultConfig())
			learnAll(s, baselineFor(evs))
			var fs []detectors.Finding
			for _, ev := range evs {
				fs = append(fs, detect(t, s, ev)...)
			}
			if len(fs) == 0 {
				t.Fatalf("%s: %d attack events, no finding", technique, len(evs))
			}
			detected++
			kinds := map[string]int{}
			for _, f := range fs {
				k := f.RuleID
				if len(f.Tags) > 2 {
					k = f.Tags[2]
				}
				kinds[k]++
			}
			t.Logf("%d events: %d findings %v", len(evs), len(fs), kinds)
		})
	}
	t.Logf("detected %d of %d techniques", detected, len(files))
}

// baselineFor makes two weeks of routine history, ending a day before the
// attack, for every principal of the attack events: week-day read calls
// and tagging from one office address with the AWS CLI, in us-east-1.
func baselineFor(attack []*sources.Event) []*sources.Event {
	start := attack[0].Time.Truncate(24*time.Hour).AddDate(0, 0, -15)
	seen := map[string]bool{}
	var out []*sources.Event
	for _, a := range attack {
		if a.Principal.Type == "" || a.Principal.Type == "AWSService" || seen[a.Principal.ARN] {
			continue
		}
		seen[a.Principal.ARN] = true
		for d := 0; d < 14; d++ {
			day := start.AddDate(0, 0, d)
			if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
				continue
			}
			for h := 9; h < 17; h++ {
				for i := 0; i < 4; i++ {
					e := mkEvent(at(day.Add(time.Duration(h)*time.Hour+time.Duration(i)*13*time.Minute)), region("us-east-1"))
					e.Account = a.Account
					e.Principal = a.Principal
					if i == 3 {
						write("ec2.amazonaws.com", "CreateTags")(e)
					}
					out = append(out, e)
				}
			}
		}
	}
	return out
}
