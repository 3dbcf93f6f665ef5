// Package shareddata finds the real third-party data beside the
// repository (../shared/data) for tests and benchmarks.
package shareddata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Path returns ../shared/data/sub relative to the repository root, or
// skips the test with a clear message when it is absent.
func Path(t testing.TB, sub string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := filepath.Join(root, "..", "shared", "data", sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real data not available at %s (it sits beside the repository as shared/data): %v", dir, err)
	}
	return dir
}
