// Package awstest starts the fake AWS endpoints the AWS source tests run
// the real aws-sdk-go-v2 clients against: moto_server for CloudWatch Logs,
// S3, SQS and STS, and httptest servers speaking the AWS JSON protocol for
// CloudTrail LookupEvents and CloudWatch Logs filter patterns (which moto
// ignores).
package awstest

import (
	"os"
	"testing"

	"github.com/trailhound/trailhound/internal/moto"
)

// Region is the region the tests use.
const Region = moto.Region

var (
	motoURL string
	motoErr error
)

// MotoMain is a test package's TestMain body: it starts moto_server on a
// free loopback port, runs the tests and stops it. Tests call Moto to get
// its URL.
//
//	func TestMain(m *testing.M) { os.Exit(awstest.MotoMain(m)) }
func MotoMain(m *testing.M) int {
	var stop func()
	motoURL, stop, motoErr = startMoto()
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

// Moto returns the URL of the package's moto_server. When moto is not
// installed the test is skipped, or fails under CI (CI set), where it
// must be.
func Moto(t testing.TB) string {
	t.Helper()
	if motoErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("moto_server is required under CI: %v", motoErr)
		}
		t.Skipf("skipping: moto_server unavailable (pip install 'moto[server]'): %v", motoErr)
	}
	if motoURL == "" {
		t.Fatal("awstest.Moto called without awstest.MotoMain in TestMain")
	}
	return motoURL
}

// Credentials sets static test credentials in the environment for the
// default credential chain, and points the shared config files at empty
// paths so the developer's own profiles are never used.
func Credentials(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// startMoto starts moto_server; internal/moto holds the start-up, shared
// with the tests outside sources/.
func startMoto() (string, func(), error) { return moto.Start() }
