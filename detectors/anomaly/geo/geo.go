// Package geo looks up where an IP address is, from MaxMind-format
// databases (GeoLite2/GeoIP2 City or Country, and ASN). It decodes only
// the few fields the anomaly detectors use.
package geo

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Location is what the databases say about one address. Fields a database
// does not have are zero.
type Location struct {
	// Country is the ISO 3166-1 alpha-2 code, e.g. "DE".
	Country string
	// CountryName and City are English names, when the database has them.
	CountryName string
	City        string
	// Lat and Lon are the approximate coordinates in degrees; HasCoords
	// says whether the database gave any.
	Lat, Lon  float64
	HasCoords bool
	// RadiusKm is the accuracy radius around the coordinates in km.
	RadiusKm float64
	// ASN is the autonomous system number and ASOrg its organisation.
	ASN   uint32
	ASOrg string
}

// Place names the location for a person: "Frankfurt am Main, DE", or the
// country alone, or "AS16509 AMAZON-02".
func (l Location) Place() string {
	switch {
	case l.City != "" && l.Country != "":
		return l.City + ", " + l.Country
	case l.Country != "":
		return l.Country
	case l.ASN != 0:
		return fmt.Sprintf("AS%d %s", l.ASN, l.ASOrg)
	}
	return "an unknown place"
}

// DB reads a location database and an ASN database; either may be absent.
type DB struct {
	city *maxminddb.Reader
	asn  *maxminddb.Reader
}

// Open opens the databases at cityPath (GeoLite2-City or -Country) and
// asnPath (GeoLite2-ASN); an empty path leaves that part out. The files are
// memory-mapped and read lazily, so opening is cheap.
func Open(cityPath, asnPath string) (*DB, error) {
	db := &DB{}
	if cityPath != "" {
		r, err := maxminddb.Open(cityPath)
		if err != nil {
			return nil, fmt.Errorf("geo: open %s: %w", cityPath, err)
		}
		if err := checkType(r, cityPath, "City", "Country"); err != nil {
			r.Close()
			return nil, err
		}
		db.city = r
	}
	if asnPath != "" {
		r, err := maxminddb.Open(asnPath)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("geo: open %s: %w", asnPath, err)
		}
		if err := checkType(r, asnPath, "ASN", "ISP"); err != nil {
			r.Close()
			db.Close()
			return nil, err
		}
		db.asn = r
	}
	return db, nil
}

// checkType fails when the database's type names none of kinds, so a
// swapped city/ASN path is a clear error instead of empty lookups.
func checkType(r *maxminddb.Reader, path string, kinds ...string) error {
	t := r.Metadata.DatabaseType
	for _, k := range kinds {
		if strings.Contains(strings.ToLower(t), strings.ToLower(k)) {
			return nil
		}
	}
	return fmt.Errorf("geo: %s is a %q database; want a %s database", path, t, kinds[0])
}

// Close releases the databases.
func (db *DB) Close() error {
	var errs []error
	if db.city != nil {
		errs = append(errs, db.city.Close())
	}
	if db.asn != nil {
		errs = append(errs, db.asn.Close())
	}
	return errors.Join(errs...)
}

// HasCity reports whether a location database is open.
func (db *DB) HasCity() bool { return db != nil && db.city != nil }

// HasASN reports whether an ASN database is open.
func (db *DB) HasASN() bool { return db != nil && db.asn != nil }

type cityRecord struct {
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude       *float64 `maxminddb:"latitude"`
		Longitude      *float64 `maxminddb:"longitude"`
		AccuracyRadius uint16   `maxminddb:"accuracy_radius"`
	} `maxminddb:"location"`
}

type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// Lookup returns what the databases know about ip; found is false when
// neither has it. An error means a corrupt database.
func (db *DB) Lookup(ip netip.Addr) (loc Location, found bool, err error) {
	if db == nil {
		return loc, false, nil
	}
	ip = ip.Unmap()
	if db.city != nil {
		res := db.city.Lookup(ip)
		if res.Err() != nil {
			return loc, false, fmt.Errorf("geo: look up %s: %w", ip, res.Err())
		}
		if res.Found() {
			var rec cityRecord
			if err := res.Decode(&rec); err != nil {
				return loc, false, fmt.Errorf("geo: decode %s: %w", ip, err)
			}
			found = true
			loc.Country = rec.Country.ISOCode
			loc.CountryName = rec.Country.Names["en"]
			loc.City = rec.City.Names["en"]
			if la, lo := rec.Location.Latitude, rec.Location.Longitude; la != nil && lo != nil {
				loc.Lat, loc.Lon, loc.HasCoords = *la, *lo, true
				loc.RadiusKm = float64(rec.Location.AccuracyRadius)
			}
		}
	}
	if db.asn != nil {
		res := db.asn.Lookup(ip)
		if res.Err() != nil {
			return loc, false, fmt.Errorf("geo: look up %s: %w", ip, res.Err())
		}
		if res.Found() {
			var rec asnRecord
			if err := res.Decode(&rec); err != nil {
				return loc, false, fmt.Errorf("geo: decode %s: %w", ip, err)
			}
			found = true
			loc.ASN, loc.ASOrg = rec.Number, rec.Org
		}
	}
	return loc, found, nil
}

// earthRadiusKm is the mean radius of the Earth.
const earthRadiusKm = 6371.0

// DistanceKm is the great-circle (haversine) distance between two points
// given in degrees.
func DistanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}
