// Package moto starts moto_server, the fake AWS endpoint that tests outside
// sources/ (ha, cmd/trailhound) run the real aws-sdk-go-v2 clients against
// for S3 and DynamoDB. sources/internal/awstest wraps it for the sources'
// tests, beside their protocol fakes.
package moto

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Region is the region the tests use.
const Region = "eu-west-1"

var (
	serverURL string
	serverErr error
)

// Main is a test package's TestMain body: it starts moto_server on a free
// loopback port, runs the tests and stops it. Tests call URL to get its
// address.
//
//	func TestMain(m *testing.M) { os.Exit(moto.Main(m)) }
func Main(m *testing.M) int {
	var stop func()
	serverURL, stop, serverErr = Start()
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

// URL returns the package's moto_server address. When moto is not
// installed the test is skipped, or fails under CI (CI set), where it must
// be.
func URL(t testing.TB) string {
	t.Helper()
	if serverErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("moto_server is required under CI: %v", serverErr)
		}
		t.Skipf("skipping: moto_server unavailable (pip install 'moto[server]'): %v", serverErr)
	}
	if serverURL == "" {
		t.Fatal("moto.URL (or awstest.Moto) called without moto.Main (or awstest.MotoMain) in TestMain")
	}
	return serverURL
}

// Credentials sets static test credentials and the test region in the
// environment for the default credential chain, and points the shared
// config files at empty paths so the developer's own profiles are never
// used.
func Credentials(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Start starts moto_server on a free loopback port and returns its URL and
// a function that stops it.
func Start() (string, func(), error) {
	if out, err := exec.Command("python3", "-c", "import moto.server").CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("python3 -c 'import moto.server': %v: %s", err, bytes.TrimSpace(out))
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		url, stop, err := startOnce()
		if err == nil {
			return url, stop, nil
		}
		lastErr = err
	}
	return "", nil, lastErr
}

func startOnce() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start moto_server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, stop, nil
			}
		}
		// Poll again shortly; the server is starting.
		select {
		case err := <-exited:
			return "", nil, fmt.Errorf("moto_server exited: %v: %s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	return "", nil, errors.New("moto_server did not answer within 30s")
}
