package geo_test

import (
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors/anomaly/geo"
	"github.com/trailhound/trailhound/detectors/anomaly/geo/geotest"
)

func openWorld(t *testing.T) *geo.DB {
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
	db, err := geo.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLookup(t *testing.T) {
	db := openWorld(t)
	tests := []struct {
		ip      string
		found   bool
		country string
		city    string
		asn     uint32
	}{
		{"198.51.100.7", true, "DE", "Frankfurt am Main", 3320},
		{"200.1.2.3", true, "BR", "Sao Paulo", 28573},
		{"::ffff:192.0.2.1", true, "FR", "Paris", 3215},
		{"100.25.1.1", true, "US", "", 16509},
		{"8.8.8.8", false, "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			loc, found, err := db.Lookup(netip.MustParseAddr(tc.ip))
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.found {
				t.Fatalf("found=%v, want %v", found, tc.found)
			}
			if loc.Country != tc.country || loc.City != tc.city || loc.ASN != tc.asn {
				t.Fatalf("got %+v, want country %q city %q asn %d", loc, tc.country, tc.city, tc.asn)
			}
			if tc.found && !loc.HasCoords {
				t.Fatalf("no coordinates in %+v", loc)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	city, err := geotest.WriteCity(dir, geotest.World)
	if err != nil {
		t.Fatal(err)
	}
	asn, err := geotest.WriteASN(dir, geotest.World)
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, city, asn, want string
	}{
		{"missing file", filepath.Join(dir, "nope.mmdb"), "", "no such file"},
		{"not a database", garbage, "", "garbage.mmdb"},
		{"swapped", asn, city, `is a "GeoLite2-ASN" database; want a City database`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := geo.Open(tc.city, tc.asn)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDistanceKm(t *testing.T) {
	// Frankfurt to Sao Paulo is about 9,800 km.
	d := geo.DistanceKm(50.1109, 8.6821, -23.5505, -46.6333)
	if math.Abs(d-9800) > 150 {
		t.Fatalf("distance=%.0f km, want about 9800", d)
	}
	if d := geo.DistanceKm(1, 2, 1, 2); d != 0 {
		t.Fatalf("distance=%v, want 0", d)
	}
}

func TestNilDB(t *testing.T) {
	var db *geo.DB
	if _, found, err := db.Lookup(netip.MustParseAddr("198.51.100.7")); found || err != nil {
		t.Fatalf("found=%v err=%v, want nothing", found, err)
	}
}
