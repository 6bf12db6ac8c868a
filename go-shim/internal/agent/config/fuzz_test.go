package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: any pyhost.yaml loads or fails with problems that name the
// file; nothing panics.
func FuzzLoad(f *testing.F) {
	f.Add("listen: 127.0.0.1:1\ncheck_runners: 2\n")
	f.Add("default_timeout: [1]\npython: {paths: [a, b]}\n")
	f.Add("a: &x [*x]\n")
	f.Add("\t- :\n")
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "pyhost.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			var p Problem
			if !errors.As(err, &p) && !strings.Contains(err.Error(), path) {
				t.Fatalf("an error that names no file: %v", err)
			}
		}
	})
}

// FuzzLoadChecks: any check configuration gives instances or problems with
// the file and a line, never a panic.
func FuzzLoadChecks(f *testing.F) {
	f.Add("init_config:\ninstances:\n  - tags: [a]\n    min_collection_interval: 2\n")
	f.Add("instances: {a: 1}\n")
	f.Add("instances:\n  - pyhost_run_timeout: \"5\"\n  - <<: *nope\n")
	f.Add("logs: [{}]\n")
	f.Fuzz(func(t *testing.T, text string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x.yaml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		insts, problems := LoadChecks(dir)
		for _, p := range problems {
			if p.File == "" || p.Check != "x" {
				t.Fatalf("a problem without its file or check: %+v", p)
			}
		}
		for _, in := range insts {
			if in.Interval <= 0 || in.RunTimeout < 0 || in.Config == nil {
				t.Fatalf("an instance with bad values: %+v", in)
			}
		}
	})
}
