package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// write creates dir/rel (and its parents) with content and returns its path.
func write(t *testing.T, dir, rel, content string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// --- main configuration ---

func TestModulesProblems(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"modules: notes", "modules: expected a list"},
		{"modules:\n  - options: {a: 1}", "an entry without a name"},
		{"modules:\n  - name: a\n    options: [1]", "expected a mapping of option: value"},
		{"modules:\n  - name: a\n    colour: red", `unknown key "modules[].colour"`},
		{"modules:\n  - a\n  - name: a", "a is listed twice (first at line 2)"},
		{"modules:\n  - name: a\n    options:\n      ratio: .nan", "pyhost.yaml:4: modules[].options: .nan is not supported"},
	} {
		path := write(t, t.TempDir(), "pyhost.yaml", c.yaml+"\n")
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
}

// Module options are read as instances are: plain values, a timestamp as
// its text (not a Go time.Time, which cannot cross to Python).
func TestModuleOptionsArePlainValues(t *testing.T) {
	path := write(t, t.TempDir(), "pyhost.yaml", "modules:\n  - name: a\n    options: {since: 2024-01-01, n: 3, tags: [x, z], nested: {k: v}}\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"since": "2024-01-01", "n": 3, "tags": []any{"x", "z"}, "nested": map[string]any{"k": "v"}}
	if got := c.Modules[0].Options; !reflect.DeepEqual(got, want) {
		t.Fatalf("options = %#v, want %#v", got, want)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	host, _ := os.Hostname()
	want := Config{
		Listen: "127.0.0.1:5050", CheckRunners: 4, ChecksDir: "checks.d", ConfDir: "conf.d", RunDir: "run",
		ModulesDir: "modules.d", ModuleBackoff: Duration(time.Second), ModuleLoadTimeout: Duration(30 * time.Second), LogLevel: "info", Hostname: host, DefaultTimeout: Duration(30 * time.Second),
		ShutdownTimeout: Duration(10 * time.Second), CancelGrace: Duration(5 * time.Second), MaxLateRuns: 16, Accounting: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Default() = %+v\nwant %+v", c, want)
	}
	if c.Level() != slog.LevelInfo {
		t.Fatalf("default level %v", c.Level())
	}
}

func TestLoadFull(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "pyhost.yaml", `
listen: 0.0.0.0:6060
check_runners: 8
checks_dir: /opt/checks
conf_dir: /etc/pyhost/conf.d
run_dir: /var/lib/pyhost
modules_dir: /opt/modules
module_backoff: 250ms
module_load_timeout: 2m
modules:
  - name: health
    options: {error_after: 2, ignore: "disk"}
  - notes
log_level: DEBUG
hostname: web-1
host_tags: [env:prod, "team:core"]
default_timeout: 1m30s
shutdown_timeout: 2.5
cancel_grace: 2s
max_late_runs: "3"
accounting: false
python:
  executable: /opt/venv/bin/python
  libpython: /usr/lib/libpython3.12.so
  engine: /opt/pyhost/libpyhost_engine.so
  paths: [/opt/lib1, /opt/lib2]
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: "0.0.0.0:6060", CheckRunners: 8, ChecksDir: "/opt/checks", ConfDir: "/etc/pyhost/conf.d",
		RunDir: "/var/lib/pyhost", LogLevel: "debug", Hostname: "web-1", HostTags: []string{"env:prod", "team:core"},
		ModulesDir: "/opt/modules", ModuleBackoff: Duration(250 * time.Millisecond), ModuleLoadTimeout: Duration(2 * time.Minute),
		Modules: []ModuleConfig{
			{Name: "health", Options: map[string]any{"error_after": 2, "ignore": "disk"}, Line: 11},
			{Name: "notes", Options: map[string]any{}, Line: 13},
		},
		DefaultTimeout: Duration(90 * time.Second), ShutdownTimeout: Duration(2500 * time.Millisecond),
		CancelGrace: Duration(2 * time.Second), MaxLateRuns: 3,
		Python: PythonConfig{
			Executable: "/opt/venv/bin/python", LibPython: "/usr/lib/libpython3.12.so",
			Engine: "/opt/pyhost/libpyhost_engine.so", Paths: []string{"/opt/lib1", "/opt/lib2"},
		},
		File: path,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Load =\n%+v\nwant\n%+v", c, want)
	}
	if c.Level() != slog.LevelDebug {
		t.Fatalf("level %v", c.Level())
	}
}

func TestLoadRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "etc/pyhost.yaml", `
checks_dir: my-checks
run_dir: ../state
python:
  executable: python3
  libpython: lib/libpython3.so
  paths: [vendor, /abs]
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(dir, "etc")
	checks := map[string][2]string{
		"checks_dir":        {c.ChecksDir, filepath.Join(etc, "my-checks")},
		"conf_dir":          {c.ConfDir, filepath.Join(etc, "conf.d")}, // the default, also resolved
		"run_dir":           {c.RunDir, filepath.Join(dir, "state")},
		"python.executable": {c.Python.Executable, "python3"}, // a bare name is looked up in PATH
		"python.libpython":  {c.Python.LibPython, filepath.Join(etc, "lib/libpython3.so")},
		"python.paths[0]":   {c.Python.Paths[0], filepath.Join(etc, "vendor")},
		"python.paths[1]":   {c.Python.Paths[1], "/abs"},
	}
	for key, got := range checks {
		if got[0] != got[1] {
			t.Errorf("%s = %q, want %q", key, got[0], got[1])
		}
	}

	// Relative to the working directory when the file path is relative.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, path)
	if err != nil {
		t.Skip("no relative path to the temp dir")
	}
	c, err = Load(rel)
	if err != nil {
		t.Fatal(err)
	}
	if c.ChecksDir != filepath.Join(etc, "my-checks") || c.File != rel {
		t.Fatalf("relative file: checks_dir %q file %q", c.ChecksDir, c.File)
	}
}

func TestLoadEmptyFileGivesDefaults(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", "# nothing\n", "listen:\nhostname: \"\"\n"} {
		path := write(t, dir, "pyhost.yaml", content)
		c, err := Load(path)
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		want := Default()
		if c.Listen != want.Listen || c.CheckRunners != 4 || c.Hostname != want.Hostname ||
			c.DefaultTimeout != want.DefaultTimeout || c.ConfDir != filepath.Join(dir, "conf.d") || c.File != path {
			t.Fatalf("%q: got %+v", content, c)
		}
	}
}

func TestLoadUnknownKey(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "pyhost.yaml", `listen: 127.0.0.1:1
check_runner: 2
python:
  executable: /x/python
  pathz: [a]
`)
	_, err := Load(path)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		path + `:2: unknown key "check_runner" (did you mean "check_runners"?)`,
		path + `:5: unknown key "python.pathz" (did you mean "python.paths"?)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nmissing %q", err, want)
		}
	}
	var p Problem
	if !errors.As(err, &p) || p.File != path || p.Line != 2 {
		t.Errorf("errors.As Problem: %+v", p)
	}
}

func TestLoadBadValues(t *testing.T) {
	cases := []struct {
		yaml, want string
	}{
		{"check_runners: 0", ":1: check_runners: must be at least 1, found 0"},
		{`check_runners: "many"`, `:1: check_runners: expected an integer, found string "many"`},
		{"cancel_grace: 0", ":1: cancel_grace: must be more than 0"},
		{"module_load_timeout: 0", ":1: module_load_timeout: must be more than 0"},
		{"module_load_timeout: -2s", ":1: module_load_timeout: must not be negative"},
		{"max_late_runs: 0", ":1: max_late_runs: must be at least 1, found 0"},
		{"check_runners: -3", ":1: check_runners: must be at least 1, found -3"},
		{"check_runners: four", `:1: check_runners: expected an integer, found string "four"`},
		{"check_runners: 2.5", ":1: check_runners: expected an integer, found number 2.5"},
		{"listen: 127.0.0.1:1\ndefault_timeout: -5s", ":2: default_timeout: must not be negative"},
		{"shutdown_timeout: -1", ":1: shutdown_timeout: must not be negative"},
		{"default_timeout: soon", `:1: default_timeout: invalid duration "soon"`},
		{"default_timeout: 0", ":1: default_timeout: must be more than 0"},
		{"default_timeout: [1]", ":1: default_timeout: expected a duration"},
		{"log_level: verbose", `:1: log_level: expected debug, info, warn or error, found "verbose"`},
		{"listen: 5050", ":1: listen: expected a string, found integer 5050"},
		{"listen: localhost", `:1: listen: expected HOST:PORT`},
		{"python: /usr/bin/python3", `:1: python: expected a mapping of settings, found string`},
		{"python:\n  paths: /a", ":2: python.paths: expected a list of directories, found string"},
		{"host_tags: env:prod", ":1: host_tags: expected a list of tags (\"key:value\"), found string"},
		{"host_tags: [\"\"]", ":1: host_tags: empty tag"},
		{"python:\n  paths: [/a, 3]", ":2: python.paths: expected a string, found integer 3"},
		{"conf_dir: a\nconf_dir: b", `:2: duplicate key "conf_dir" (first at line 1)`},
		{"- listen", ":1: the file: expected a mapping of settings, found a list"},
		{"listen: [oops", ":1: YAML syntax error:"},
		{"a: 1\n b: 2", ":2: YAML syntax error: mapping values are not allowed in this context"},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		path := write(t, dir, fmt.Sprintf("c%d.yaml", i), tc.yaml+"\n")
		c, err := Load(path)
		if err == nil {
			t.Errorf("%q: no error, got %+v", tc.yaml, c)
			continue
		}
		if !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%q: error %q\nwant %q", tc.yaml, err, path+tc.want)
		}
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	path := write(t, t.TempDir(), "pyhost.yaml", "check_runners: 0\nlog_level: loud\nbogus: 1\n")
	_, err := Load(path)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 errors, got %q", err)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, fmt.Sprintf("%s:%d: ", path, i+1)) {
			t.Errorf("error %d = %q", i, l)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestDurationForms(t *testing.T) {
	ok := map[string]time.Duration{
		`"30s"`:    30 * time.Second,
		"30s":      30 * time.Second,
		"1m30s":    90 * time.Second,
		"250ms":    250 * time.Millisecond,
		"45":       45 * time.Second,
		"1.5":      1500 * time.Millisecond,
		"0.1":      100 * time.Millisecond,
		`"2.5"`:    2500 * time.Millisecond,
		"0":        0,
		"1e3":      1000 * time.Second,
		"~":        7 * time.Second, // null keeps the value already there
		"&a 3s":    3 * time.Second,
		"  12  ":   12 * time.Second,
		"'1h2m3s'": time.Hour + 2*time.Minute + 3*time.Second,
	}
	for in, want := range ok {
		var v struct {
			D Duration `yaml:"d"`
		}
		v.D = Duration(7 * time.Second)
		if err := yaml.Unmarshal([]byte("d: "+in), &v); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if v.D.Duration() != want {
			t.Errorf("%s = %v, want %v", in, v.D, want)
		}
	}
	for _, in := range []string{"-1", "-0.5", `"-3s"`, "abc", "true", "[1]", "{a: 1}", ".inf", ".nan", "1e300"} {
		var v struct {
			D Duration `yaml:"d"`
		}
		if err := yaml.Unmarshal([]byte("d: "+in), &v); err == nil {
			t.Errorf("%s: no error, got %v", in, v.D)
		}
	}
	b, err := json.Marshal(struct{ D Duration }{Duration(90 * time.Second)})
	if err != nil || string(b) != `{"D":"1m30s"}` {
		t.Errorf("json %s %v", b, err)
	}
}

func TestDurationFlagAndText(t *testing.T) {
	var d Duration
	var _ flag.Value = &d
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&d, "timeout", "")
	if err := fs.Parse([]string{"-timeout", "1m"}); err != nil || d.Duration() != time.Minute {
		t.Fatalf("flag: %v %v", d, err)
	}
	if err := fs.Parse([]string{"-timeout", "2.5"}); err != nil || d.Duration() != 2500*time.Millisecond {
		t.Fatalf("flag seconds: %v %v", d, err)
	}
	for _, bad := range []string{"-1s", "-2", "soon", ""} {
		if err := d.Set(bad); err == nil {
			t.Errorf("Set(%q): no error", bad)
		}
	}
	var v struct{ D Duration }
	if err := json.Unmarshal([]byte(`{"D":"45s"}`), &v); err != nil || v.D.Duration() != 45*time.Second {
		t.Fatalf("json: %v %v", v.D, err)
	}
}

func TestValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	path := write(t, t.TempDir(), "pyhost.yaml", "log_level: warning\nshutdown_timeout: 0\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("loaded: %v", err)
	}
	c = Default()
	c.Listen = "nope"
	c.CheckRunners = 0
	c.ConfDir = ""
	c.LogLevel = "loud"
	c.DefaultTimeout = 0
	c.ShutdownTimeout = Duration(-time.Second)
	err = c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"listen:", "check_runners: must be at least 1, found 0", "conf_dir: must not be empty",
		`log_level: expected debug, info, warn or error, found "loud"`, "default_timeout: must be more than 0",
		"shutdown_timeout: must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q\nmissing %q", err, want)
		}
	}
}

func TestLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "warning": slog.LevelWarn,
		"ERROR": slog.LevelError, "": slog.LevelInfo,
	} {
		if got := (Config{LogLevel: in}).Level(); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
	path := write(t, t.TempDir(), "pyhost.yaml", "log_level: Warning\n")
	c, err := Load(path)
	if err != nil || c.LogLevel != "warn" || c.Level() != slog.LevelWarn {
		t.Fatalf("%+v %v", c, err)
	}
}

// The bundled configuration loads and points at existing directories.
func TestBundledConfig(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "config", "pyhost.yaml")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	for _, d := range []struct{ got, want string }{
		{c.ChecksDir, filepath.Join(root, "python-sdk", "examples", "checks.d")},
		{c.ConfDir, filepath.Join(root, "python-sdk", "examples", "conf.d")},
		{c.RunDir, filepath.Join(root, "run")},
	} {
		if d.got != d.want {
			t.Errorf("dir %q, want %q", d.got, d.want)
		}
	}
	for _, d := range []string{c.ChecksDir, c.ConfDir} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s: not a directory (%v)", d, err)
		}
	}
	def := Default()
	if want := filepath.Join(root, "python-sdk", "examples", "modules.d"); c.ModulesDir != want {
		t.Errorf("modules_dir %q, want %q", c.ModulesDir, want)
	}
	var names []string
	for _, m := range c.Modules {
		names = append(names, m.Name)
		if _, err := os.Stat(filepath.Join(c.ModulesDir, m.Name+".py")); err != nil {
			t.Errorf("bundled module %s: %v", m.Name, err)
		}
	}
	if strings.Join(names, ",") != "check_health,notes" {
		t.Errorf("bundled modules: %v", names)
	}
	def.ChecksDir, def.ConfDir, def.RunDir, def.File = c.ChecksDir, c.ConfDir, c.RunDir, c.File
	def.ModulesDir, def.Modules = c.ModulesDir, c.Modules
	if !reflect.DeepEqual(c, def) {
		t.Errorf("bundled values differ from the defaults:\n%+v\n%+v", c, def)
	}
	insts, probs := LoadChecks(c.ConfDir)
	if len(probs) > 0 || len(insts) == 0 {
		t.Errorf("bundled conf_dir: %d instances, problems %v", len(insts), probs)
	}
}

// --- check configurations ---

func problemsText(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Error())
		b.WriteString("\n")
	}
	return b.String()
}

// wantProblem asserts exactly one problem containing want (after the file).
func wantProblem(t *testing.T, ps []Problem, file string, line int, want string) Problem {
	t.Helper()
	if len(ps) != 1 {
		t.Fatalf("want 1 problem, got %d:\n%s", len(ps), problemsText(ps))
	}
	p := ps[0]
	if p.File != file || p.Line != line || !strings.Contains(p.Msg, want) {
		t.Fatalf("problem %q\nwant %s:%d: ...%s", p.Error(), file, line, want)
	}
	return p
}

func checkFiles(insts []Instance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, fmt.Sprintf("%s %s #%d", in.Check, filepath.ToSlash(in.File), in.Index))
	}
	return out
}

func relFiles(t *testing.T, dir string, insts []Instance) []string {
	for i := range insts {
		r, err := filepath.Rel(dir, insts[i].File)
		if err != nil {
			t.Fatal(err)
		}
		insts[i].File = r
	}
	return checkFiles(insts)
}

func TestConfDLayouts(t *testing.T) {
	dir := t.TempDir()
	one := "instances: [{}]\n"
	two := "instances:\n  - a: 1\n  - a: 2\n"
	write(t, dir, "plain.yaml", one)
	write(t, dir, "short.yml", one)
	write(t, dir, "nested.d/conf.yaml", two)
	write(t, dir, "several.d/b.yml", one)
	write(t, dir, "several.d/a.yaml", one)
	write(t, dir, "several.d/conf.yaml.example", one)    // ignored
	write(t, dir, "several.d/notes.txt", "hello")        // ignored
	write(t, dir, "several.d/metrics.yaml", "jmx: [1]")  // JMX metric definitions: ignored
	write(t, dir, "several.d/auto_conf.yaml", "x: [")    // autodiscovery template: ignored
	write(t, dir, "several.d/sub/conf.yaml", one)        // subdirectories are not read
	write(t, dir, "both.yaml", one)                      // a check may have both
	write(t, dir, "both.d/conf.yaml", one)               //
	write(t, dir, "dflt.d/conf.yaml.default", two)       // used: nothing else
	write(t, dir, "dflt.d/conf.yaml.example", one)       // ignored, does not count
	write(t, dir, "topdflt.yaml.default", one)           // used
	write(t, dir, "overridden.d/conf.yaml.default", two) // not used: conf.yaml exists
	write(t, dir, "overridden.d/conf.yaml", one)
	write(t, dir, "crossdflt.d/conf.yaml.default", two) // not used: crossdflt.yaml exists
	write(t, dir, "crossdflt.yaml", one)
	write(t, dir, "example.yaml.example", one) // ignored
	write(t, dir, "disabled.yaml.disabled", one)
	write(t, dir, ".hidden.yaml", one)
	write(t, dir, ".git/x.d/conf.yaml", one)
	write(t, dir, "notacheck/conf.yaml", one) // not <check>.d
	write(t, dir, "metrics.yaml", one)

	insts, probs := LoadChecks(dir)
	if len(probs) != 0 {
		t.Fatalf("problems:\n%s", problemsText(probs))
	}
	got := relFiles(t, dir, insts)
	want := []string{
		"both both.d/conf.yaml #0",
		"both both.yaml #0",
		"crossdflt crossdflt.yaml #0",
		"dflt dflt.d/conf.yaml.default #0",
		"dflt dflt.d/conf.yaml.default #1",
		"nested nested.d/conf.yaml #0",
		"nested nested.d/conf.yaml #1",
		"overridden overridden.d/conf.yaml #0",
		"plain plain.yaml #0",
		"several several.d/a.yaml #0",
		"several several.d/b.yml #0",
		"short short.yml #0",
		"topdflt topdflt.yaml.default #0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("instances:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSymlinkedCheckDir(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "real/conf.yaml", "instances: [{}]\n")
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "conf.d", "linked.d")); err != nil {
		t.Skip(err)
	}
	insts, probs := LoadChecks(filepath.Join(dir, "conf.d"))
	if len(probs) != 0 || len(insts) != 1 || insts[0].Check != "linked" {
		t.Fatalf("%+v %v", insts, probs)
	}
}

func TestDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "gone.yaml")
	if err := os.Symlink(filepath.Join(dir, "missing.yaml"), link); err != nil {
		t.Skip(err)
	}
	write(t, dir, "ok.yaml", "instances: [{}]\n")
	insts, probs := LoadChecks(dir)
	if len(insts) != 1 {
		t.Fatalf("%+v", insts)
	}
	wantProblem(t, probs, link, 0, "cannot read: no such file or directory")
}

func TestBrokenConfigStillSuppressesDefault(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "x.d/conf.yaml.default", "instances: [{}]\n")
	bad := write(t, dir, "x.d/conf.yaml", "instances: [\n")
	insts, probs := LoadChecks(dir)
	if len(insts) != 0 {
		t.Fatalf("the default was used: %+v", insts)
	}
	wantProblem(t, probs, bad, 1, "YAML syntax error")
}

func TestLogsOnlyFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "x.d/logs.yaml", "logs:\n  - type: file\n    path: /var/log/x.log\n")
	write(t, dir, "x.d/conf.yaml.default", "instances: [{}]\n")
	write(t, dir, "y.yaml", "logs:\n  - type: file\n    path: /var/log/y.log\ninstances: []\n")
	insts, probs := LoadChecks(dir)
	if len(probs) != 0 {
		t.Fatalf("problems:\n%s", problemsText(probs))
	}
	// A logs-only file is not a check configuration: the default still runs.
	if got := relFiles(t, dir, insts); !reflect.DeepEqual(got, []string{"x x.d/conf.yaml.default #0"}) {
		t.Fatalf("%v", got)
	}
}

func TestSyntaxErrorLines(t *testing.T) {
	dir := t.TempDir()
	scanner := write(t, dir, "a.yaml", "init_config:\ninstances:\n  - host: a\n  - host: b: c\n")
	parser := write(t, dir, "b.yaml", "init_config:\ninstances:\n  - tags: [a, b\n    host: x\n")
	token := write(t, dir, "c.yaml", "instances:\n  - host: a\n  - @host\n")
	write(t, dir, "d.yaml", "instances:\n  - host: fine\n")
	insts, probs := LoadChecks(dir)
	if len(insts) != 1 || insts[0].Check != "d" {
		t.Fatalf("other files must still load: %+v", insts)
	}
	if len(probs) != 3 {
		t.Fatalf("problems:\n%s", problemsText(probs))
	}
	for i, want := range []string{
		scanner + ":4: check a: YAML syntax error: mapping values are not allowed in this context",
		parser + ":3: check b: YAML syntax error: did not find expected ',' or ']'",
		token + ":3: check c: YAML syntax error: found character that cannot start any token",
	} {
		if !strings.HasPrefix(probs[i].Error(), want) {
			t.Errorf("problem %d = %q\nwant %q", i, probs[i].Error(), want)
		}
	}
}

func TestInstanceNotAMapping(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "x.yaml", `init_config:
  shared: 1
instances:
  - host: a
  - just-a-string
  - [1, 2]
  -
  - host: d
    port: 2
`)
	insts, probs := LoadChecks(dir)
	if len(probs) != 2 {
		t.Fatalf("problems:\n%s", problemsText(probs))
	}
	if p := probs[0]; p.Line != 5 || p.Check != "x" || p.File != path ||
		p.Msg != `instance 2: expected a mapping, found string "just-a-string"` {
		t.Errorf("problem 0: %q", p.Error())
	}
	if p := probs[1]; p.Line != 6 || p.Msg != "instance 3: expected a mapping, found a list" {
		t.Errorf("problem 1: %q", p.Error())
	}
	if len(insts) != 3 {
		t.Fatalf("instances: %+v", insts)
	}
	// A null instance is an empty one, as in the Datadog Agent.
	for i, want := range []struct {
		index, line int
		config      map[string]any
	}{
		{0, 4, map[string]any{"host": "a"}},
		{3, 7, map[string]any{}},
		{4, 8, map[string]any{"host": "d", "port": 2}},
	} {
		in := insts[i]
		if in.Index != want.index || in.Line != want.line || !reflect.DeepEqual(in.Config, want.config) ||
			!reflect.DeepEqual(in.InitConfig, map[string]any{"shared": 1}) {
			t.Errorf("instance %d: %+v", i, in)
		}
	}
	// Each instance has its own init_config.
	insts[0].InitConfig["shared"] = 99
	if insts[1].InitConfig["shared"] != 1 {
		t.Error("init_config shared between instances")
	}
}

func TestIntervalTimeoutTags(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "x.yaml", `instances:
  - name: defaults
  - name: float
    min_collection_interval: 2.5
    pyhost_run_timeout: 0.25
  - name: zero
    min_collection_interval: 0
    pyhost_run_timeout: 0
  - name: int
    min_collection_interval: 60
    pyhost_run_timeout: 5
    tags: [env:prod, "port:80"]
  - name: negative
    min_collection_interval: -10
  - name: quoted
    min_collection_interval: "30"
    pyhost_run_timeout: " 2.5 "
  - name: negative timeout
    pyhost_run_timeout: -1
  - name: tags not a list
    tags: env:prod
  - name: tag not a string
    tags:
      - ok
      - 8080
      - {a: b}
  - name: null tags
    tags:
  - name: the integration's timeout is its own
    timeout: "5"
  - name: not a number
    min_collection_interval: soon
    pyhost_run_timeout: [1]
`)
	insts, probs := LoadChecks(dir)
	type got struct {
		name     string
		interval time.Duration
		timeout  time.Duration
		tags     []string
	}
	var gotInsts []got
	for _, in := range insts {
		gotInsts = append(gotInsts, got{in.Config["name"].(string), in.Interval, in.RunTimeout, in.Tags})
	}
	wantInsts := []got{
		{"defaults", 15 * time.Second, 0, nil},
		{"float", 2500 * time.Millisecond, 250 * time.Millisecond, nil},
		{"zero", 15 * time.Second, 0, nil},
		{"int", time.Minute, 5 * time.Second, []string{"env:prod", "port:80"}},
		{"quoted", 30 * time.Second, 2500 * time.Millisecond, nil},
		{"null tags", 15 * time.Second, 0, nil},
		{"the integration's timeout is its own", 15 * time.Second, 0, nil},
	}
	if !reflect.DeepEqual(gotInsts, wantInsts) {
		t.Errorf("instances:\n%+v\nwant\n%+v", gotInsts, wantInsts)
	}
	if got := insts[6].Config["timeout"]; got != "5" {
		t.Errorf("the instance's timeout reaches the check as written: %#v", got)
	}
	wantProbs := []string{
		path + ":14: check x: instance 5: min_collection_interval: must not be negative, found -10",
		path + ":19: check x: instance 7: pyhost_run_timeout: must not be negative, found -1",
		path + `:21: check x: instance 8: tags must be a list of strings, found string "env:prod"`,
		path + ":25: check x: instance 9: tags[1] must be a string, found integer 8080 (quote it)",
		path + ":26: check x: instance 9: tags[2] must be a string, found a mapping (quote it)",
		path + `:32: check x: instance 12: min_collection_interval: expected a number of seconds, found string "soon"`,
		path + ":33: check x: instance 12: pyhost_run_timeout: expected a number of seconds, found a list",
	}
	var gotProbs []string
	for _, p := range probs {
		gotProbs = append(gotProbs, p.Error())
	}
	if !reflect.DeepEqual(gotProbs, wantProbs) {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(gotProbs, "\n"), strings.Join(wantProbs, "\n"))
	}
}

func TestFileLevelProblems(t *testing.T) {
	cases := []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"empty", "", 0, "the file is empty"},
		{"comments", "# instances:\n#   - {}\n", 0, "the file is empty"},
		{"missing", "init_config:\n  a: 1\n", 0, "no `instances:`"},
		{"nullinst", "instances:\n", 0, "no `instances:`"},
		{"emptylist", "init_config:\ninstances: []\n", 2, "`instances:` is empty"},
		{"mapinst", "instances:\n  host: a\n", 2, "instances must be a list, found a mapping"},
		{"strinst", "instances: all\n", 1, `instances must be a list, found string "all"`},
		{"initlist", "init_config: [1]\ninstances: [{}]\n", 1, "init_config must be a mapping, found a list"},
		{"initdup", "init_config:\n  a: 1\n  a: 2\ninstances: [{}]\n", 3, `init_config: duplicate key "a" (first at line 2)`},
		{"root", "- instances\n", 1, "expected a mapping with `init_config:` and `instances:`, found a list"},
		{"dupkey", "instances: [{}]\ninstances: [{}]\n", 2, `duplicate key "instances" (first at line 1)`},
		{"ad", "ad_identifiers: [redis]\ninstances: [{}]\n", 1, "ad_identifiers"},
		{"anchor", "instances:\n  - *nope\n", 0, "YAML syntax error: unknown anchor 'nope' referenced"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := write(t, dir, tc.name+".yaml", tc.yaml)
			write(t, dir, "ok.yaml", "instances: [{}]\n")
			insts, probs := LoadChecks(dir)
			p := wantProblem(t, probs, path, tc.line, tc.want)
			if p.Check != tc.name {
				t.Errorf("check %q", p.Check)
			}
			if len(insts) != 1 || insts[0].Check != "ok" {
				t.Errorf("the other file must load: %+v", insts)
			}
		})
	}
}

func TestInitConfigNull(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "x.yaml", "init_config:\ninstances: [{}]\n")
	write(t, dir, "y.yaml", "instances: [{}]\n")
	insts, probs := LoadChecks(dir)
	if len(probs) != 0 || len(insts) != 2 {
		t.Fatalf("%+v %v", insts, probs)
	}
	for _, in := range insts {
		if in.InitConfig == nil || len(in.InitConfig) != 0 || in.Config == nil {
			t.Errorf("%s: init_config %#v config %#v", in.Check, in.InitConfig, in.Config)
		}
	}
}

func TestInstanceValueProblems(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "x.yaml", `instances:
  - host: a
    host: b
  - ratio: .nan
  - ok: true
  - ? [a, b]
    : 1
`)
	insts, probs := LoadChecks(dir)
	if len(insts) != 1 || insts[0].Index != 2 {
		t.Fatalf("instances %+v", insts)
	}
	want := []string{
		path + `:3: check x: instance 1: duplicate key "host" (first at line 2)`,
		path + ":4: check x: instance 2: .nan is not supported (values must be JSON numbers)",
		path + ":6: check x: instance 4: a mapping key must be a string, found a list",
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMissingConfDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	insts, probs := LoadChecks(dir)
	if len(insts) != 0 {
		t.Fatal(insts)
	}
	wantProblem(t, probs, dir, 0, "the conf directory does not exist")

	file := write(t, t.TempDir(), "file", "x")
	_, probs = LoadChecks(file)
	wantProblem(t, probs, file, 0, "cannot read the conf directory")

	_, probs = LoadCheck(dir, "x")
	if p := wantProblem(t, probs, dir, 0, "does not exist"); p.Check != "x" {
		t.Errorf("check %q", p.Check)
	}
}

func TestLoadCheck(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "x.yaml", "instances: [{a: 1}]\n")
	write(t, dir, "x.d/conf.yaml", "instances: [{a: 2}]\n")
	write(t, dir, "x.d/conf.yaml.default", "instances: [{a: 3}]\n")
	write(t, dir, "xy.yaml", "instances: [{a: 4}]\n")
	write(t, dir, "broken.yaml", "instances: [\n")
	write(t, dir, "ex.d/conf.yaml.example", "instances: [{}]\n")
	write(t, dir, "ex.yaml.example", "instances: [{}]\n")

	insts, probs := LoadCheck(dir, "x")
	if len(probs) != 0 {
		t.Fatalf("other checks' files must not be read:\n%s", problemsText(probs))
	}
	if got := relFiles(t, dir, insts); !reflect.DeepEqual(got, []string{"x x.d/conf.yaml #0", "x x.yaml #0"}) {
		t.Fatalf("%v", got)
	}

	insts, probs = LoadCheck(dir, "nope")
	p := wantProblem(t, probs, dir, 0, "no configuration found; looked for "+filepath.Join(dir, "nope.yaml"))
	if len(insts) != 0 || p.Check != "nope" || !strings.Contains(p.Msg, filepath.Join(dir, "nope.d", "*.yaml")) {
		t.Fatalf("%+v %q", insts, p.Error())
	}

	_, probs = LoadCheck(dir, "ex")
	p = wantProblem(t, probs, dir, 0, "no configuration found")
	for _, f := range []string{"ex.yaml.example", filepath.Join("ex.d", "conf.yaml.example")} {
		if !strings.Contains(p.Msg, filepath.Join(dir, f)) {
			t.Errorf("message does not name the ignored %s: %q", f, p.Msg)
		}
	}

	_, probs = LoadCheck(dir, "broken")
	wantProblem(t, probs, filepath.Join(dir, "broken.yaml"), 1, "YAML syntax error")

	_, probs = LoadCheck(dir, "../x")
	wantProblem(t, probs, dir, 0, "invalid check name")
}

// Values are plain Go types that encoding/json can marshal.
func TestPlainValues(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "x.yaml", `init_config:
  defaults: &defaults
    port: 6379
    ssl: {verify: yes}
instances:
  - <<: *defaults
    host: localhost
    port: 6380
    ratio: 0.5
    big: 18446744073709551615
    mode: 0755
    on_off: [on, off, y, n, "yes", !!str no, true]
    date: 2024-01-02
    empty: ~
    nested:
      list:
        - {a: 1, b: [x, {c: null}]}
      8080: port
      true: flag
    folded: >
      hello
      world
`)
	insts, probs := LoadChecks(dir)
	if len(probs) != 0 || len(insts) != 1 {
		t.Fatalf("%+v\n%s", insts, problemsText(probs))
	}
	got := insts[0].Config
	want := map[string]any{
		"port":   6380, // explicit keys override merged ones
		"ssl":    map[string]any{"verify": true},
		"host":   "localhost",
		"ratio":  0.5,
		"big":    uint64(18446744073709551615),
		"mode":   493,
		"on_off": []any{true, false, true, false, "yes", "no", true},
		"date":   "2024-01-02",
		"empty":  nil,
		"nested": map[string]any{
			"list": []any{map[string]any{"a": 1, "b": []any{"x", map[string]any{"c": nil}}}},
			"8080": "port",
			"true": "flag",
		},
		"folded": "hello world\n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config\n%#v\nwant\n%#v", got, want)
	}
	if _, err := json.Marshal(insts[0]); err != nil {
		t.Errorf("json.Marshal: %v", err)
	}
	if _, err := json.Marshal(insts[0].InitConfig); err != nil {
		t.Errorf("json.Marshal init_config: %v", err)
	}
	assertPlain(t, "config", got)
	assertPlain(t, "init_config", insts[0].InitConfig)
}

func assertPlain(t *testing.T, path string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			assertPlain(t, path+"."+k, e)
		}
	case []any:
		for i, e := range x {
			assertPlain(t, fmt.Sprintf("%s[%d]", path, i), e)
		}
	case string, int, float64, bool, nil, uint64:
	default:
		t.Errorf("%s: %T is not a plain value", path, v)
	}
}

func TestMergeKeys(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "x.yaml", `init_config:
  a: &a {host: a, port: 1, min_collection_interval: 30}
  b: &b {host: b, user: u}
instances:
  - <<: [*a, *b]
    port: 2
  - <<: 5
`)
	insts, probs := LoadChecks(dir)
	if len(insts) != 1 {
		t.Fatalf("%+v\n%s", insts, problemsText(probs))
	}
	want := map[string]any{"host": "a", "port": 2, "user": "u", "min_collection_interval": 30}
	if !reflect.DeepEqual(insts[0].Config, want) || insts[0].Interval != 30*time.Second {
		t.Errorf("config %#v interval %v", insts[0].Config, insts[0].Interval)
	}
	wantProblem(t, probs, path, 7, "instance 2: << must merge a mapping or a list of mappings, found integer 5")
}

func TestAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("init_config:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n",
			i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("instances: [{}]\n")
	dir := t.TempDir()
	path := write(t, dir, "x.yaml", b.String())
	start := time.Now()
	insts, probs := LoadChecks(dir)
	if len(insts) != 0 || time.Since(start) > 10*time.Second {
		t.Fatalf("%d instances in %v", len(insts), time.Since(start))
	}
	wantProblem(t, probs, path, 2, "init_config: document too large")
}

func TestAliasLoop(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "x.yaml", "instances:\n  - &a\n    self: *a\n")
	insts, probs := LoadChecks(dir)
	if len(insts) != 0 || len(probs) != 1 || !strings.Contains(probs[0].Msg, "alias *a") {
		t.Fatalf("%+v\n%s", insts, problemsText(probs))
	}
}

func TestProblemError(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{Check: "x", File: "conf.d/x.yaml", Line: 3, Msg: "bad"}, "conf.d/x.yaml:3: check x: bad"},
		{Problem{Check: "x", File: "conf.d", Msg: "bad"}, "conf.d: check x: bad"},
		{Problem{File: "pyhost.yaml", Line: 1, Msg: "bad"}, "pyhost.yaml:1: bad"},
		{Problem{Msg: "bad"}, "bad"},
	} {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestListenIsLoopbackUnlessHTTPRemote(t *testing.T) {
	c := Default()
	for addr, ok := range map[string]bool{"127.0.0.1:5050": true, "localhost:1": true, "[::1]:1": true,
		"0.0.0.0:5050": false, ":5050": false, "192.0.2.1:80": false} {
		c.Listen = addr
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
	c.Listen, c.HTTPRemote = "0.0.0.0:5050", true
	if err := c.Validate(); err != nil {
		t.Errorf("http_remote: %v", err)
	}
}
