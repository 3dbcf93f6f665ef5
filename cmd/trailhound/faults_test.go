package main

import (
	"bytes"
	"os"
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
