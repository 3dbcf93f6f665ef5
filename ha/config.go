package ha

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/trailhound/trailhound/configs"
)

// Defaults of the state and ha sections.
const (
	DefaultSnapshotEvery = 5 * time.Minute
	DefaultSnapshotKeep  = 48
	DefaultRenew         = 10 * time.Second
	DefaultTTL           = 30 * time.Second
)

// StateConfig is the state section: where snapshots go and whether `run`
// restores one into an empty data directory.
type StateConfig struct {
	// Snapshot configures the periodic snapshots; an empty URL turns them
	// off.
	Snapshot SnapshotConfig `yaml:"snapshot"`
	// Restore is "auto" to restore the newest snapshot when the data
	// directory has no database, or "off" (the default).
	Restore string `yaml:"restore"`
}

// SnapshotConfig says where and how often snapshots are uploaded.
type SnapshotConfig struct {
	// URL is s3://bucket/prefix.
	URL string `yaml:"url"`
	// Every is the interval between snapshots (DefaultSnapshotEvery).
	Every configs.Duration `yaml:"every"`
	// Keep is how many snapshots are kept (DefaultSnapshotKeep).
	Keep int `yaml:"keep"`
	// Region is the bucket's region; empty uses the default chain.
	Region string `yaml:"region"`
	// EndpointURL sends S3 requests to this URL instead of AWS (moto,
	// LocalStack, a VPC endpoint).
	EndpointURL string `yaml:"endpoint_url"`

	// Bucket and Prefix are parsed from URL.
	Bucket, Prefix string `yaml:"-"`
}

// LeaseConfig is the ha section: the lease replicas compete for.
type LeaseConfig struct {
	// Lease is dynamodb://TABLE/NAME or s3://bucket/key; empty turns high
	// availability off.
	Lease string `yaml:"lease"`
	// Renew is how often the holder renews the lease (DefaultRenew).
	Renew configs.Duration `yaml:"renew"`
	// TTL is how long a lease lasts without renewal (DefaultTTL).
	TTL configs.Duration `yaml:"ttl"`
	// Holder names this replica in the lease; empty means host name and
	// process id.
	Holder string `yaml:"holder"`
	// Region is the table's or bucket's region; empty uses the default
	// chain.
	Region string `yaml:"region"`
	// EndpointURL sends lease requests to this URL instead of AWS.
	EndpointURL string `yaml:"endpoint_url"`

	// Kind is "dynamodb" or "s3"; Where is the table or bucket, and Name
	// the lease item's key or the object key. Parsed from Lease.
	Kind, Where, Name string `yaml:"-"`
}

// Config is the decoded state and ha sections.
type Config struct {
	// State is the state section: snapshots and restore.
	State StateConfig
	// HA is the ha section: the lease.
	HA LeaseConfig
}

// DecodeConfig decodes and checks the state and ha sections, filling
// defaults. Errors name the key and what was wrong.
func DecodeConfig(state, lease configs.Section) (*Config, error) {
	c := &Config{}
	if err := state.Decode(&c.State); err != nil {
		return nil, err
	}
	if err := lease.Decode(&c.HA); err != nil {
		return nil, err
	}
	s := &c.State.Snapshot
	if s.Every == 0 {
		s.Every = configs.Duration(DefaultSnapshotEvery)
	}
	if s.Keep == 0 {
		s.Keep = DefaultSnapshotKeep
	}
	switch c.State.Restore {
	case "":
		c.State.Restore = "off"
	case "auto", "off":
	default:
		return nil, state.Errorf("restore", "must be auto or off, not %q", c.State.Restore)
	}
	if s.URL != "" {
		var err error
		if s.Bucket, s.Prefix, err = ParseS3URL(s.URL); err != nil {
			return nil, state.Errorf("snapshot.url", "%v", err)
		}
		if s.Every.D() < time.Second {
			return nil, state.Errorf("snapshot.every", "must be at least 1s, not %s", s.Every.D())
		}
		if s.Keep < 1 {
			return nil, state.Errorf("snapshot.keep", "must be at least 1, not %d", s.Keep)
		}
		if err := checkEndpoint(s.EndpointURL); err != nil {
			return nil, state.Errorf("snapshot.endpoint_url", "%v", err)
		}
	} else if c.State.Restore == "auto" {
		return nil, state.Errorf("restore", "auto needs snapshot.url: there is nothing to restore from")
	}
	h := &c.HA
	if h.Renew == 0 {
		h.Renew = configs.Duration(DefaultRenew)
	}
	if h.TTL == 0 {
		h.TTL = configs.Duration(DefaultTTL)
	}
	if h.Lease == "" {
		return c, nil
	}
	u, err := url.Parse(h.Lease)
	if err != nil {
		return nil, lease.Errorf("lease", "%q is not a URL: want dynamodb://TABLE/NAME or s3://bucket/key", h.Lease)
	}
	h.Kind, h.Where, h.Name = u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/")
	if (h.Kind != "dynamodb" && h.Kind != "s3") || h.Where == "" || h.Name == "" || u.RawQuery != "" {
		return nil, lease.Errorf("lease", "%q: want dynamodb://TABLE/NAME or s3://bucket/key", h.Lease)
	}
	if h.Renew.D() < 100*time.Millisecond {
		return nil, lease.Errorf("renew", "must be at least 100ms, not %s", h.Renew.D())
	}
	if h.TTL.D() < 2*h.Renew.D() {
		return nil, lease.Errorf("ttl", "must be at least twice renew (%s), not %s, so one failed renewal does not lose the lease", h.Renew.D(), h.TTL.D())
	}
	if err := checkEndpoint(h.EndpointURL); err != nil {
		return nil, lease.Errorf("endpoint_url", "%v", err)
	}
	if s.URL == "" {
		return nil, lease.Errorf("lease", "a standby restores the active replica's state from snapshots: set state.snapshot.url too")
	}
	return c, nil
}

// ParseS3URL splits s3://bucket/prefix into bucket and prefix (without
// slashes at either end; it may be empty).
func ParseS3URL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" {
		return "", "", fmt.Errorf("%q: want s3://bucket/prefix", s)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

func checkEndpoint(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}
