// Package awstest starts the fake AWS endpoints the AWS source tests run
// the real aws-sdk-go-v2 clients against: moto_server for CloudWatch Logs,
// S3, SQS and STS, and httptest servers speaking the AWS JSON protocol for
// CloudTrail LookupEvents and CloudWatch Logs filter patterns (which moto
// ignores).
package awstest

import (
	"testing"

	"github.com/trailhound/trailhound/internal/moto"
)

// Region is the region the tests use.
const Region = moto.Region

// MotoMain is a test package's TestMain body: it starts moto_server on a
// free loopback port, runs the tests and stops it. Tests call Moto to get
// its URL. It is internal/moto's Main, under the name the source tests
// know.
//
//	func TestMain(m *testing.M) { os.Exit(awstest.MotoMain(m)) }
func MotoMain(m *testing.M) int { return moto.Main(m) }

// Moto returns the URL of the package's moto_server. When moto is not
// installed the test is skipped, or fails under CI (CI set), where it
// must be.
func Moto(t testing.TB) string {
	t.Helper()
	return moto.URL(t)
}

// Credentials sets static test credentials in the environment for the
// default credential chain, and points the shared config files at empty
// paths so the developer's own profiles are never used. Unlike
// moto.Credentials it leaves AWS_REGION empty, as it always has: the
// sources take their regions from their options.
func Credentials(t *testing.T) {
	t.Helper()
	moto.Credentials(t)
	t.Setenv("AWS_REGION", "")
}
