package athena

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/trailhound/trailhound/configs"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// Partition layouts: how the CloudTrail table is partitioned, so each
// query names only the partitions of its window and scans (and costs) no
// more.
const (
	// LayoutDate is AWS's documented partition-projection table for one
	// account and region: one partition column, `timestamp`, as
	// yyyy/MM/dd.
	LayoutDate = "date"
	// LayoutAccountRegionDate is the organisation-trail table projected by
	// `account`, `region` and `timestamp` (yyyy/MM/dd).
	LayoutAccountRegionDate = "account_region_date"
)

// DefaultMaxBytesScanned is the per-query cap on bytes scanned when the
// options set none: 10 GiB, about 5 cents at $5 per TB.
const DefaultMaxBytesScanned = 10 << 30

// Options configure an Athena source: a CloudTrail table in the Glue
// catalog, queried in one region.
type Options struct {
	awssrc.Options `yaml:",inline"`
	// Polling sets each poll's window; its lag is the overlap with the
	// previous window, for records CloudTrail delivers late.
	awssrc.Polling `yaml:",inline"`
	// Database and Table name the CloudTrail table.
	Database string `yaml:"database"`
	Table    string `yaml:"table"`
	// Catalog is the data catalog. Default AwsDataCatalog.
	Catalog string `yaml:"catalog"`
	// Workgroup runs the queries. Default primary. Its
	// BytesScannedCutoffPerQuery, if set, also applies.
	Workgroup string `yaml:"workgroup"`
	// OutputLocation is the s3:// prefix query results are written to.
	// Required unless the workgroup enforces its own.
	OutputLocation string `yaml:"output_location"`
	// MaxBytesScanned caps what one query may scan: a running query past
	// it is stopped and the poll fails, saying so. Default 10 GiB.
	MaxBytesScanned int64 `yaml:"max_bytes_scanned"`
	// Layout is the table's partition projection: date (default) or
	// account_region_date.
	Layout string `yaml:"layout"`
	// PartitionAccounts and PartitionRegions narrow an
	// account_region_date table to these accounts and regions. Empty:
	// every one.
	PartitionAccounts []string `yaml:"partition_accounts"`
	PartitionRegions  []string `yaml:"partition_regions"`
	// QueryTimeout bounds how long one query may stay queued or running
	// before it is stopped. Default 10m.
	QueryTimeout configs.Duration `yaml:"query_timeout"`
}

var (
	identRe   = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)
	catalogRe = regexp.MustCompile(`^[A-Za-z0-9_@-]{1,256}$`)
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	wgRe      = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,128}$`)
)

// Validate checks the options and fills in defaults. sec is the options
// section, for errors that name file, line and key.
func (o *Options) Validate(sec configs.Section) error {
	if err := o.Options.Validate(sec); err != nil {
		return err
	}
	if len(o.Regions) != 1 {
		return sec.Errorf("regions", "an athena source queries in exactly one region, not %d (the table's partitions name the regions it covers)", len(o.Regions))
	}
	if len(o.Accounts) > 1 {
		return sec.Errorf("accounts", "an athena source queries from one account, not %d (an organisation table covers the others)", len(o.Accounts))
	}
	if err := o.Polling.Validate(sec, 0); err != nil {
		return err
	}
	if !identRe.MatchString(o.Database) {
		return sec.Errorf("database", "%q is not a Glue database name (letters, digits and underscores)", o.Database)
	}
	if !identRe.MatchString(o.Table) {
		return sec.Errorf("table", "%q is not a Glue table name (letters, digits and underscores)", o.Table)
	}
	if o.Catalog == "" {
		o.Catalog = "AwsDataCatalog"
	}
	if !catalogRe.MatchString(o.Catalog) {
		return sec.Errorf("catalog", "%q is not a data catalog name", o.Catalog)
	}
	if o.Workgroup == "" {
		o.Workgroup = "primary"
	}
	if !wgRe.MatchString(o.Workgroup) {
		return sec.Errorf("workgroup", "%q is not a workgroup name (letters, digits, . _ -)", o.Workgroup)
	}
	if o.OutputLocation != "" && (!strings.HasPrefix(o.OutputLocation, "s3://") || len(o.OutputLocation) <= len("s3://")) {
		return sec.Errorf("output_location", "%q is not an s3:// location like s3://my-athena-results/trailhound/", o.OutputLocation)
	}
	if o.MaxBytesScanned < 0 {
		return sec.Errorf("max_bytes_scanned", "must not be negative")
	}
	if o.MaxBytesScanned == 0 {
		o.MaxBytesScanned = DefaultMaxBytesScanned
	}
	if o.MaxBytesScanned < 10<<20 {
		return sec.Errorf("max_bytes_scanned", "must be at least 10485760 (10 MiB, Athena's smallest billed query), not %d", o.MaxBytesScanned)
	}
	switch o.Layout {
	case "":
		o.Layout = LayoutDate
	case LayoutDate, LayoutAccountRegionDate:
	default:
		return sec.Errorf("layout", "%q is not %s or %s", o.Layout, LayoutDate, LayoutAccountRegionDate)
	}
	if o.Layout == LayoutDate && (len(o.PartitionAccounts) > 0 || len(o.PartitionRegions) > 0) {
		return sec.Errorf("layout", "partition_accounts and partition_regions need layout %s", LayoutAccountRegionDate)
	}
	for i, a := range o.PartitionAccounts {
		if !accountRe.MatchString(a) {
			return sec.Errorf(fmt.Sprintf("partition_accounts[%d]", i), "%q is not a 12-digit AWS account id (quote it in YAML)", a)
		}
	}
	for i, r := range o.PartitionRegions {
		if !regionRe.MatchString(r) {
			return sec.Errorf(fmt.Sprintf("partition_regions[%d]", i), "%q is not an AWS region name like eu-west-1", r)
		}
	}
	if o.QueryTimeout == 0 {
		o.QueryTimeout = configs.Duration(defaultQueryTimeout)
	}
	if o.QueryTimeout.D() < minQueryTimeout {
		return sec.Errorf("query_timeout", "must be at least %s", minQueryTimeout)
	}
	return nil
}
