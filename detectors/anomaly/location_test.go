package anomaly

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/anomaly/geo/geotest"
	"github.com/trailhound/trailhound/sources"
)

// geoConfig is testConfig with test GeoIP databases (geotest.World).
func geoConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	city, err := geotest.WriteCity(dir, geotest.World)
	if err != nil {
		t.Fatal(err)
	}
	asn, err := geotest.WriteASN(dir, geotest.World)
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig()
	c.GeoIP = GeoIPConfig{CityDatabase: city, ASNDatabase: asn}
	return c
}

func consoleLogin(e *sources.Event) {
	e.Service, e.Action, e.ReadOnly = "signin.amazonaws.com", "ConsoleLogin", false
	e.UserAgent = "Mozilla/5.0 (X11; Linux x86_64)"
}

func TestLocation(t *testing.T) {
	// alice's history is from Frankfurt (198.51.100.7, routine).
	tests := []struct {
		name       string
		ev         []*sources.Event
		want       []string // rule ids of the last event's location findings
		wantReason string
		wantSev    detectors.Severity
	}{
		{name: "known place", ev: []*sources.Event{mkEvent()}},
		{
			name:       "new country",
			ev:         []*sources.Event{mkEvent(ip("192.0.2.9"), at(t0.Add(3*time.Hour)))},
			want:       []string{RuleUnusualLocation},
			wantReason: "first activity of alice from FR (192.0.2.9, Paris, FR) in 14 days of history",
			wantSev:    detectors.Medium,
		},
		{
			name: "impossible travel: Frankfurt then Sao Paulo 30 minutes later",
			ev: []*sources.Event{
				mkEvent(consoleLogin, ip("198.51.100.7")),
				mkEvent(consoleLogin, ip("200.1.2.3"), at(t0.Add(30*time.Minute))),
			},
			want:       []string{RuleUnusualLocation, RuleImpossibleTravel},
			wantReason: "alice acted from Sao Paulo, BR (200.1.2.3) 30m after Frankfurt am Main, DE (198.51.100.7): 9829 km apart, 19519 km/h (limit 1000 km/h)",
			wantSev:    detectors.High,
		},
		{
			name: "Frankfurt then Sao Paulo a day later is possible",
			ev: []*sources.Event{
				mkEvent(consoleLogin, ip("198.51.100.7")),
				mkEvent(consoleLogin, ip("200.1.2.3"), at(t0.Add(24*time.Hour))),
			},
			want: []string{RuleUnusualLocation},
		},
		{
			name: "Frankfurt then Berlin: too close to judge",
			ev: []*sources.Event{
				mkEvent(consoleLogin, ip("198.51.100.7")),
				mkEvent(consoleLogin, ip("203.0.113.9"), at(t0.Add(5*time.Minute))),
			},
		},
		{
			name: "first use of a new address counts as a sign-in",
			ev: []*sources.Event{
				mkEvent(consoleLogin, ip("198.51.100.7")),
				mkEvent(ip("1.2.3.4"), at(t0.Add(2*time.Hour))),
			},
			want: []string{RuleUnusualLocation, RuleImpossibleTravel},
		},
		{
			name: "AWS addresses are ignored",
			ev: []*sources.Event{
				mkEvent(consoleLogin, ip("198.51.100.7")),
				mkEvent(ip("3.85.1.1"), at(t0.Add(time.Minute))),
			},
		},
		{
			name: "private and internal addresses are ignored",
			ev: []*sources.Event{
				mkEvent(consoleLogin, ip("198.51.100.7")),
				mkEvent(ip("10.8.8.10"), at(t0.Add(time.Minute))),
				mkEvent(ip("AWS Internal"), at(t0.Add(2*time.Minute))),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSuite(t, nil, geoConfig(t))
			learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
			var fs []detectors.Finding
			for _, e := range tc.ev {
				fs = nil
				for _, f := range detect(t, s, e) {
					if f.RuleID == RuleUnusualLocation || f.RuleID == RuleImpossibleTravel {
						fs = append(fs, f)
					}
				}
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.RuleID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("findings=%v, want %v", reasons(fs), tc.want)
			}
			if len(fs) == 0 {
				return
			}
			last := fs[len(fs)-1]
			if tc.wantReason != "" && !strings.Contains(last.Reason, tc.wantReason) {
				t.Fatalf("reason=%q, want it to contain %q", last.Reason, tc.wantReason)
			}
			if tc.wantSev != 0 && last.Severity != tc.wantSev {
				t.Fatalf("severity=%v, want %v", last.Severity, tc.wantSev)
			}
		})
	}
}

func TestImpossibleTravelNeedsAPerson(t *testing.T) {
	// A role is used from many places at once by design.
	s := newSuite(t, nil, geoConfig(t))
	role := func(e *sources.Event) {
		e.Principal = sources.Principal{ARN: "arn:aws:sts::" + acct + ":assumed-role/ci/run-1", Type: "AssumedRole", Name: "ci/run-1", AccountID: acct}
	}
	detect(t, s, mkEvent(role, ip("198.51.100.7")))
	for _, f := range detect(t, s, mkEvent(role, ip("200.1.2.3"), at(t0.Add(time.Minute)))) {
		if f.RuleID == RuleImpossibleTravel {
			t.Fatalf("role fired: %s", f.Reason)
		}
	}
}

func TestImpossibleTravelSSOSession(t *testing.T) {
	s := newSuite(t, nil, geoConfig(t))
	sso := func(e *sources.Event) {
		e.Principal = sources.Principal{ARN: "arn:aws:sts::" + acct + ":assumed-role/AWSReservedSSO_Admin_0123456789abcdef/erin@example.com", Type: "AssumedRole", AccountID: acct}
	}
	detect(t, s, mkEvent(sso, consoleLogin, ip("1.2.3.4")))
	fs := only(detect(t, s, mkEvent(sso, consoleLogin, ip("198.51.100.7"), at(t0.Add(time.Hour)))), RuleImpossibleTravel)
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "erin@example.com acted from Frankfurt am Main, DE") {
		t.Fatalf("findings=%v, want one for erin", reasons(fs))
	}
}

func TestLocationWithoutDatabase(t *testing.T) {
	s := newSuite(t, nil, testConfig())
	learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
	detect(t, s, mkEvent(consoleLogin, ip("198.51.100.7")))
	for _, f := range detect(t, s, mkEvent(consoleLogin, ip("200.1.2.3"), at(t0.Add(time.Minute)))) {
		if f.RuleID == RuleImpossibleTravel || f.RuleID == RuleUnusualLocation {
			t.Fatalf("fired without a database: %s", f.Reason)
		}
	}
}

func TestLocationBadDatabase(t *testing.T) {
	c := testConfig()
	c.GeoIP.CityDatabase = t.TempDir() + "/missing.mmdb"
	if _, err := New(nil, c, Options{}); err == nil || !strings.Contains(err.Error(), "missing.mmdb") {
		t.Fatalf("err=%v, want one naming the file", err)
	}
}
