// Package geotest writes small MaxMind-format databases for tests, with
// MaxMind's own writer (github.com/maxmind/mmdbwriter), in the layout of
// GeoLite2-City and GeoLite2-ASN. Tests then need no downloaded database.
// Only tests import it.
package geotest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is one entry of a test database.
type Network struct {
	// CIDR is the network, e.g. "81.2.69.0/24".
	CIDR string
	// Country is the ISO code and City the English city name.
	Country, City string
	// Lat, Lon and RadiusKm place the network.
	Lat, Lon float64
	RadiusKm uint16
	// ASN and ASOrg fill the ASN database.
	ASN   uint32
	ASOrg string
}

// World is a handful of networks in cities far apart, documented test
// ranges where possible, used across the anomaly tests.
var World = []Network{
	{CIDR: "198.51.100.0/24", Country: "DE", City: "Frankfurt am Main", Lat: 50.1109, Lon: 8.6821, RadiusKm: 20, ASN: 3320, ASOrg: "Deutsche Telekom AG"},
	{CIDR: "203.0.113.0/24", Country: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, RadiusKm: 20, ASN: 3320, ASOrg: "Deutsche Telekom AG"},
	{CIDR: "192.0.2.0/24", Country: "FR", City: "Paris", Lat: 48.8566, Lon: 2.3522, RadiusKm: 10, ASN: 3215, ASOrg: "Orange"},
	{CIDR: "200.1.2.0/24", Country: "BR", City: "Sao Paulo", Lat: -23.5505, Lon: -46.6333, RadiusKm: 50, ASN: 28573, ASOrg: "Claro NXT"},
	{CIDR: "1.2.3.0/24", Country: "AU", City: "Sydney", Lat: -33.8688, Lon: 151.2093, RadiusKm: 50, ASN: 1221, ASOrg: "Telstra"},
	{CIDR: "3.80.0.0/12", Country: "US", City: "Ashburn", Lat: 39.0438, Lon: -77.4874, RadiusKm: 1000, ASN: 14618, ASOrg: "AMAZON-AES"},
	{CIDR: "100.24.0.0/13", Country: "US", City: "", Lat: 37.751, Lon: -97.822, RadiusKm: 1000, ASN: 16509, ASOrg: "AMAZON-02"},
}

// WriteCity writes a GeoLite2-City-shaped database of nets into dir and
// returns its path.
func WriteCity(dir string, nets []Network) (string, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-City",
		Languages:               []string{"en"},
		RecordSize:              24,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return "", err
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			return "", fmt.Errorf("geotest: %w", err)
		}
		rec := mmdbtype.Map{
			"country": mmdbtype.Map{
				"iso_code": mmdbtype.String(n.Country),
				"names":    mmdbtype.Map{"en": mmdbtype.String(n.Country)},
			},
			"location": mmdbtype.Map{
				"latitude":        mmdbtype.Float64(n.Lat),
				"longitude":       mmdbtype.Float64(n.Lon),
				"accuracy_radius": mmdbtype.Uint16(n.RadiusKm),
			},
		}
		if n.City != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.City)}}
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			return "", fmt.Errorf("geotest: insert %s: %w", n.CIDR, err)
		}
	}
	return write(tree, filepath.Join(dir, "GeoLite2-City-test.mmdb"))
}

// WriteASN writes a GeoLite2-ASN-shaped database of nets into dir and
// returns its path.
func WriteASN(dir string, nets []Network) (string, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-ASN",
		RecordSize:              24,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return "", err
	}
	for _, n := range nets {
		if n.ASN == 0 {
			continue
		}
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			return "", fmt.Errorf("geotest: %w", err)
		}
		rec := mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(n.ASN),
			"autonomous_system_organization": mmdbtype.String(n.ASOrg),
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			return "", fmt.Errorf("geotest: insert %s: %w", n.CIDR, err)
		}
	}
	return write(tree, filepath.Join(dir, "GeoLite2-ASN-test.mmdb"))
}

func write(tree *mmdbwriter.Tree, path string) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
