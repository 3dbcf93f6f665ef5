package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, dataDir string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	body := "data_dir: " + dataDir + "\nsources:\n  - name: s\n    type: file\n    options: {paths: [" + repoFile(t, "configs/samples") + "]}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestCorruptDatabaseLeftUntouched: a corrupt bbolt file gives a clear
// error and is never overwritten.
func TestCorruptDatabaseLeftUntouched(t *testing.T) {
	dir := t.TempDir()
	garbage := bytes.Repeat([]byte("not a bbolt page "), 4096)
	db := filepath.Join(dir, "trailhound.db")
	if err := os.WriteFile(db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "scan", "--no-notify", "--config", writeConfig(t, dir))
	if code != exitError || !strings.Contains(errOut, "is corrupt or not a Trailhound database") || !strings.Contains(errOut, "left untouched") {
		t.Fatalf("exit=%d stderr=%s", code, errOut)
	}
	after, err := os.ReadFile(db)
	if err != nil || !bytes.Equal(after, garbage) {
		t.Fatalf("database file changed (err %v)", err)
	}
}

// TestUnusableDataDir: a data directory that cannot be created is a clear
// error, not a crash.
func TestUnusableDataDir(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(parent, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "scan", "--no-notify", "--config", writeConfig(t, filepath.Join(parent, "data")))
	if code != exitError || !strings.Contains(errOut, "data directory:") || !strings.Contains(errOut, "not a directory") {
		t.Fatalf("exit=%d stderr=%s", code, errOut)
	}
}

// TestDatabaseLocked: a second process on the same data directory is told
// so instead of waiting forever.
func TestDatabaseLocked(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir)
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	code, _, errOut := runCLI(t, "scan", "--no-notify", "--config", cfgPath)
	if code != exitError || !strings.Contains(errOut, "in use by another trailhound process") {
		t.Fatalf("exit=%d stderr=%s", code, errOut)
	}
}

// tmpfs mounts a small tmpfs for a test, or skips when the test may not
// mount file systems (not root, or a sandbox without mount).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the full-disk test needs root", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestFullDisk: when the data directory fills up, the scan fails with a
// clear error, the database stays consistent, and nothing stored before is
// lost; with room again the same scan completes without duplicates.
func TestFullDisk(t *testing.T) {
	dir := tmpfs(t, "96k")
	code, out, errOut := runCLI(t, "scan", "--no-notify", "--config", writeConfig(t, dir))
	if code != exitError || !strings.Contains(errOut, "no space left on device") || !strings.Contains(out, "NOT STORED") {
		t.Fatalf("exit=%d stdout=%s stderr=%s", code, out, errOut)
	}
	// Move the data to a roomy directory, as an operator would.
	roomy := t.TempDir()
	b, err := os.ReadFile(filepath.Join(dir, "trailhound.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(roomy, "trailhound.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, roomy)
	code, out, errOut = runCLI(t, "scan", "--no-notify", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "new alerts") {
		t.Fatalf("after moving: exit=%d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "scan", "--no-notify", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "; 0 new alerts") {
		t.Fatalf("rescan created alerts again:\n%s", out)
	}
}

// TestReadOnlyDataDir: a data directory that cannot be written is a clear
// error before anything is read.
func TestReadOnlyDataDir(t *testing.T) {
	dir := tmpfs(t, "1m")
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot remount read-only: %v: %s", err, out)
	}
	code, _, errOut := runCLI(t, "scan", "--no-notify", "--config", writeConfig(t, dir))
	if code != exitError || !strings.Contains(errOut, "read-only file system") {
		t.Fatalf("exit=%d stderr=%s", code, errOut)
	}
}
