package detectors

// Tags the adapter of AWS security findings (detectors/external) sets on
// the findings it makes, which the workflows read.
const (
	// TagDigestOnly marks a finding under its source's severity floor: it
	// is stored and counted in the digest, never posted.
	TagDigestOnly = "digest-only"
	// TagClosed marks an AWS finding its product closed itself (archived,
	// or a control that passes now): it updates an alert that shows it,
	// and opens none.
	TagClosed = "aws-closed"
)

// FindingReader is implemented by detectors that read the AWS security
// findings events carry (sources.Event.Finding). The engine shows such
// events to them alone, so that no log rule or baseline judges a finding
// as if it were a log record.
type FindingReader interface {
	ReadsFindings() bool
}

// HasTag reports whether the finding carries a tag.
func (f *Finding) HasTag(tag string) bool {
	for _, t := range f.Tags {
		if t == tag {
			return true
		}
	}
	return false
}
