// Package config loads the agent's main configuration (pyhost.yaml) and the
// checks' configurations in the Datadog Agent's conf.d layout. Every problem
// names its file and line; a broken check configuration never stops the
// others from loading.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the agent's main configuration (pyhost.yaml).
type Config struct {
	Listen       string `yaml:"listen"`        // default "127.0.0.1:5050"
	CheckRunners int    `yaml:"check_runners"` // default 4; must be ≥ 1
	ChecksDir    string `yaml:"checks_dir"`    // default "checks.d"
	ConfDir      string `yaml:"conf_dir"`      // default "conf.d"
	ModulesDir   string `yaml:"modules_dir"`   // default "modules.d" (NAME.py or a package NAME/)
	// Modules are the long-running modules to start, in order.
	Modules []ModuleConfig `yaml:"modules"`
	// ModuleBackoff is the wait before restarting a module's serve() that
	// raised; it doubles with each crash in a row (up to a minute), and the
	// fifth crash in a row makes the module failed. Default 1s.
	ModuleBackoff Duration `yaml:"module_backoff"`
	// ModuleLoadTimeout is how long the next module waits for one still
	// loading (its import, can_run() and constructor, which nothing can
	// interrupt): past it the one loading is left to finish in the
	// background, shown as loading, and the next starts. Default 30s.
	ModuleLoadTimeout Duration `yaml:"module_load_timeout"`
	RunDir            string   `yaml:"run_dir"`          // default "run" (agent state, e.g. persistent cache)
	LogLevel          string   `yaml:"log_level"`        // debug|info|warn|error, default info
	Hostname          string   `yaml:"hostname"`         // default: os.Hostname()
	HostTags          []string `yaml:"host_tags"`        // the host's tags ("key:value"), for checks and plugins
	DefaultTimeout    Duration `yaml:"default_timeout"`  // a run's timeout when an instance sets none; default 30s
	ShutdownTimeout   Duration `yaml:"shutdown_timeout"` // how long in-flight runs may finish at shutdown; default 10s
	CancelGrace       Duration `yaml:"cancel_grace"`     // how long a run may go on past its deadline before it is abandoned as stuck; default 5s
	MaxLateRuns       int      `yaml:"max_late_runs"`    // runs past their deadline given a replacement runner at a time; default 16
	// HTTPRemote lets listen be an address other hosts reach (default: only
	// loopback); requests that change state always need the API token.
	HTTPRemote bool `yaml:"http_remote"`
	// Accounting measures what each check's runs cost: CPU, GIL wait, queue
	// wait and Python memory (default true; false turns it off).
	Accounting bool `yaml:"accounting"`
	// AllowInsecureFiles loads check, module and configuration files that
	// other users could have written (default: refused).
	AllowInsecureFiles bool         `yaml:"allow_insecure_files"`
	Python             PythonConfig `yaml:"python"`
	File               string       `yaml:"-"` // the file it came from, "" for defaults
}

// PythonConfig chooses the embedded Python.
type PythonConfig struct {
	Executable string   `yaml:"executable"` // the Python (venv) to embed; "" = $PYHOST_PYTHON or the build's default
	LibPython  string   `yaml:"libpython"`  // a libpython to load first; "" = the one the engine links
	Engine     string   `yaml:"engine"`     // libpyhost_engine.so; "" = $PYHOST_ENGINE or the built one
	Paths      []string `yaml:"paths"`      // extra sys.path entries
}

// Defaults.
const (
	DefaultListen          = "127.0.0.1:5050"
	DefaultCheckRunners    = 4
	DefaultChecksDir       = "checks.d"
	DefaultConfDir         = "conf.d"
	DefaultRunDir          = "run"
	DefaultModulesDir      = "modules.d"
	DefaultModuleBackoff   = time.Second
	DefaultModuleLoad      = 30 * time.Second
	DefaultLogLevel        = "info"
	DefaultRunTimeout      = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultCancelGrace     = 5 * time.Second
	DefaultMaxLateRuns     = 16
)

// Default is the configuration used when no file sets a key. Its
// directories are relative to the working directory.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		Listen:            DefaultListen,
		CheckRunners:      DefaultCheckRunners,
		ChecksDir:         DefaultChecksDir,
		ConfDir:           DefaultConfDir,
		ModulesDir:        DefaultModulesDir,
		ModuleBackoff:     Duration(DefaultModuleBackoff),
		ModuleLoadTimeout: Duration(DefaultModuleLoad),
		RunDir:            DefaultRunDir,
		LogLevel:          DefaultLogLevel,
		Hostname:          host,
		DefaultTimeout:    Duration(DefaultRunTimeout),
		ShutdownTimeout:   Duration(DefaultShutdownTimeout),
		CancelGrace:       Duration(DefaultCancelGrace),
		MaxLateRuns:       DefaultMaxLateRuns,
		Accounting:        true,
	}
}

// Level is LogLevel as a slog level (Info when unrecognised).
func (c Config) Level() slog.Level {
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Load reads the main configuration at path; keys it does not set keep
// their defaults, and a key set to null or "" counts as not set. Relative
// directories (checks_dir, conf_dir, run_dir, python.paths, and
// python.executable/libpython/engine when they contain a "/") are resolved
// against the file's directory, including the default ones. Every unknown
// key, wrong type or bad value is reported, each as "FILE:LINE: message"
// (joined with errors.Join; each is a Problem).
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return Config{}, err
	}
	cfg := Default()
	cfg.File = path
	l := &mainLoader{file: path}
	root, syn := parseYAML(data)
	if syn != nil {
		return Config{}, Problem{File: path, Line: syn.line, Msg: syn.msg}
	}
	if root != nil && !isNull(root) {
		l.load(root, &cfg)
	}
	if len(l.problems) > 0 {
		errs := make([]error, len(l.problems))
		for i, p := range l.problems {
			errs[i] = p
		}
		return Config{}, errors.Join(errs...)
	}
	cfg.ChecksDir = resolve(dir, cfg.ChecksDir)
	cfg.ConfDir = resolve(dir, cfg.ConfDir)
	cfg.ModulesDir = resolve(dir, cfg.ModulesDir)
	cfg.RunDir = resolve(dir, cfg.RunDir)
	cfg.Python.Executable = resolveFile(dir, cfg.Python.Executable)
	cfg.Python.LibPython = resolveFile(dir, cfg.Python.LibPython)
	cfg.Python.Engine = resolveFile(dir, cfg.Python.Engine)
	for i, p := range cfg.Python.Paths {
		cfg.Python.Paths[i] = resolve(dir, p)
	}
	return cfg, nil
}

// IsLoopback reports whether a HOST:PORT address only takes connections
// from this host: localhost, 127.0.0.0/8 or ::1 (an empty host or 0.0.0.0
// means every interface).
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate checks the values of a configuration built or changed in code
// (Load already reports these, with their lines).
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("listen: expected HOST:PORT (e.g. %q), found %q", DefaultListen, c.Listen))
	} else if !c.HTTPRemote && !IsLoopback(c.Listen) {
		errs = append(errs, fmt.Errorf("listen: %s is reachable from other hosts; the agent listens on loopback "+
			"unless http_remote is true (--http-remote)", c.Listen))
	}
	if c.CheckRunners < 1 {
		errs = append(errs, fmt.Errorf("check_runners: must be at least 1, found %d", c.CheckRunners))
	}
	for _, d := range []struct{ key, val string }{
		{"checks_dir", c.ChecksDir}, {"conf_dir", c.ConfDir}, {"run_dir", c.RunDir}, {"modules_dir", c.ModulesDir},
	} {
		if d.val == "" {
			errs = append(errs, fmt.Errorf("%s: must not be empty", d.key))
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level: expected debug, info, warn or error, found %q", c.LogLevel))
	}
	if c.DefaultTimeout <= 0 {
		errs = append(errs, fmt.Errorf("default_timeout: must be more than 0, found %v", c.DefaultTimeout))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown_timeout: %w, found %v", errNegative, c.ShutdownTimeout))
	}
	for _, p := range c.Python.Paths {
		if p == "" {
			errs = append(errs, errors.New("python.paths: empty entry"))
		}
	}
	return errors.Join(errs...)
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// resolveFile leaves a bare name ("python3", "libpython3.12.so") to be
// searched for as usual (PATH, the dynamic loader).
func resolveFile(dir, p string) string {
	if !strings.ContainsRune(p, filepath.Separator) {
		return p
	}
	return resolve(dir, p)
}

type mainLoader struct {
	file     string
	problems []Problem
}

func (l *mainLoader) fail(n *yaml.Node, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

var mainKeys = []string{"listen", "check_runners", "checks_dir", "conf_dir", "run_dir", "log_level",
	"hostname", "host_tags", "modules_dir", "modules", "module_backoff", "module_load_timeout", "default_timeout", "shutdown_timeout", "cancel_grace", "max_late_runs", "http_remote", "accounting",
	"allow_insecure_files", "python"}

var pythonKeys = []string{"executable", "libpython", "engine", "paths"}

// fields walks a mapping, calling set for each known key with a non-null
// value and reporting unknown and duplicate keys.
func (l *mainLoader) fields(n *yaml.Node, prefix string, known []string, set func(key string, v *yaml.Node)) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		what := "the file"
		if prefix != "" {
			what = strings.TrimSuffix(prefix, ".")
		}
		l.fail(n, "%s: expected a mapping of settings, found %s", what, describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.fail(k, "a key must be a string, found %s", describe(k))
			continue
		}
		name := prefix + k.Value
		if first, dup := seen[k.Value]; dup {
			l.fail(k, "duplicate key %q (first at line %d)", name, first)
			continue
		}
		seen[k.Value] = k.Line
		if !slices.Contains(known, k.Value) {
			msg := fmt.Sprintf("unknown key %q", name)
			if s := closest(k.Value, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", prefix+s)
			}
			l.fail(k, "%s", msg)
			continue
		}
		if isNull(v) {
			continue
		}
		set(k.Value, deref(v))
	}
}

func (l *mainLoader) load(root *yaml.Node, cfg *Config) {
	l.fields(root, "", mainKeys, func(key string, v *yaml.Node) {
		switch key {
		case "listen":
			if s, ok := l.str(key, v); ok && s != "" {
				if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
					l.fail(v, "listen: expected HOST:PORT (e.g. %q), found %q", DefaultListen, s)
				} else {
					cfg.Listen = s
				}
			}
		case "check_runners":
			if n, ok := l.int(key, v); ok {
				if n < 1 {
					l.fail(v, "check_runners: must be at least 1, found %d", n)
				} else {
					cfg.CheckRunners = n
				}
			}
		case "checks_dir":
			l.setStr(key, v, &cfg.ChecksDir)
		case "conf_dir":
			l.setStr(key, v, &cfg.ConfDir)
		case "run_dir":
			l.setStr(key, v, &cfg.RunDir)
		case "modules_dir":
			l.setStr(key, v, &cfg.ModulesDir)
		case "modules":
			cfg.Modules = l.modules(v)
		case "module_backoff":
			if d, ok := l.duration(key, v); ok {
				if d == 0 {
					l.fail(v, "module_backoff: must be more than 0")
				} else {
					cfg.ModuleBackoff = Duration(d)
				}
			}
		case "module_load_timeout":
			if d, ok := l.duration(key, v); ok {
				if d == 0 {
					l.fail(v, "module_load_timeout: must be more than 0")
				} else {
					cfg.ModuleLoadTimeout = Duration(d)
				}
			}
		case "log_level":
			if s, ok := l.str(key, v); ok && s != "" {
				switch lv := strings.ToLower(s); lv {
				case "debug", "info", "warn", "error":
					cfg.LogLevel = lv
				case "warning":
					cfg.LogLevel = "warn"
				default:
					l.fail(v, "log_level: expected debug, info, warn or error, found %q", s)
				}
			}
		case "hostname":
			l.setStr(key, v, &cfg.Hostname)
		case "host_tags":
			if v.Kind != yaml.SequenceNode {
				l.fail(v, "host_tags: expected a list of tags (\"key:value\"), found %s", describe(v))
				return
			}
			var tags []string // [] is the default: none
			for _, item := range v.Content {
				if s, ok := l.str("host_tags", item); ok && s != "" {
					tags = append(tags, s)
				} else if ok {
					l.fail(item, "host_tags: empty tag")
				}
			}
			cfg.HostTags = tags
		case "default_timeout":
			if d, ok := l.duration(key, v); ok {
				if d == 0 {
					l.fail(v, "default_timeout: must be more than 0")
				} else {
					cfg.DefaultTimeout = Duration(d)
				}
			}
		case "shutdown_timeout":
			if d, ok := l.duration(key, v); ok {
				cfg.ShutdownTimeout = Duration(d)
			}
		case "cancel_grace":
			if d, ok := l.duration(key, v); ok {
				if d == 0 {
					l.fail(v, "cancel_grace: must be more than 0")
				} else {
					cfg.CancelGrace = Duration(d)
				}
			}
		case "http_remote":
			l.setBool(key, v, &cfg.HTTPRemote)
		case "accounting":
			l.setBool(key, v, &cfg.Accounting)
		case "allow_insecure_files":
			l.setBool(key, v, &cfg.AllowInsecureFiles)
		case "max_late_runs":
			if n, ok := l.int(key, v); ok {
				if n < 1 {
					l.fail(v, "max_late_runs: must be at least 1, found %d", n)
				} else {
					cfg.MaxLateRuns = n
				}
			}
		case "python":
			l.fields(v, "python.", pythonKeys, func(key string, v *yaml.Node) {
				key = "python." + key
				switch key {
				case "python.executable":
					l.setStr(key, v, &cfg.Python.Executable)
				case "python.libpython":
					l.setStr(key, v, &cfg.Python.LibPython)
				case "python.engine":
					l.setStr(key, v, &cfg.Python.Engine)
				case "python.paths":
					if v.Kind != yaml.SequenceNode {
						l.fail(v, "python.paths: expected a list of directories, found %s", describe(v))
						return
					}
					var paths []string
					for _, item := range v.Content {
						if s, ok := l.str("python.paths", item); ok && s != "" {
							paths = append(paths, s)
						} else if ok {
							l.fail(item, "python.paths: empty entry")
						}
					}
					cfg.Python.Paths = paths
				}
			})
		}
	})
}

// ModuleConfig is one entry of `modules:`: a module to start, and the
// values of its options (checked by the module's MODULE_OPTIONS at start).
type ModuleConfig struct {
	Name    string         `yaml:"name"`
	Options map[string]any `yaml:"options"`
	Line    int            `yaml:"-"`
}

var moduleKeys = []string{"name", "options"}

// modules reads `modules:`, a list of {name, options}.
func (l *mainLoader) modules(v *yaml.Node) []ModuleConfig {
	if v.Kind != yaml.SequenceNode {
		l.fail(v, "modules: expected a list of {name, options}, found %s", describe(v))
		return nil
	}
	var out []ModuleConfig
	seen := map[string]int{}
	for _, item := range v.Content {
		item = deref(item)
		if item.Kind == yaml.ScalarNode && item.ShortTag() == "!!str" {
			// A bare name: the module with its default options.
			out = append(out, ModuleConfig{Name: item.Value, Options: map[string]any{}, Line: item.Line})
			continue
		}
		m := ModuleConfig{Options: map[string]any{}, Line: item.Line}
		l.fields(item, "modules[].", moduleKeys, func(key string, v *yaml.Node) {
			switch key {
			case "name":
				l.setStr("modules[].name", v, &m.Name)
			case "options":
				if v.Kind != yaml.MappingNode {
					l.fail(v, "modules[].options: expected a mapping of option: value, found %s", describe(v))
					return
				}
				// As instances are read: plain values only (a timestamp
				// keeps its text, a non-str key or .nan is a problem on
				// its line), so nothing fails later, in Go, without one.
				opts, probs := toPlain(v)
				for _, p := range probs {
					l.problems = append(l.problems, Problem{File: l.file, Line: p.line, Msg: "modules[].options: " + p.msg})
				}
				if o, ok := opts.(map[string]any); ok {
					m.Options = o
				}
			}
		})
		if m.Name == "" {
			l.fail(item, "modules: an entry without a name")
			continue
		}
		out = append(out, m)
	}
	for _, m := range out {
		if first, dup := seen[m.Name]; dup {
			l.fail(&yaml.Node{Line: m.Line}, "modules: %s is listed twice (first at line %d)", m.Name, first)
		}
		seen[m.Name] = m.Line
	}
	return out
}

func (l *mainLoader) str(key string, v *yaml.Node) (string, bool) {
	v = deref(v)
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
		l.fail(v, "%s: expected a string, found %s", key, describe(v))
		return "", false
	}
	return v.Value, true
}

// setStr sets *dst unless the value is "" (which keeps the default).
func (l *mainLoader) setStr(key string, v *yaml.Node, dst *string) {
	if s, ok := l.str(key, v); ok && s != "" {
		*dst = s
	}
}

func (l *mainLoader) setBool(key string, v *yaml.Node, dst *bool) {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
		var b bool
		if err := v.Decode(&b); err == nil {
			*dst = b
			return
		}
	}
	l.fail(v, "%s: expected true or false, found %s", key, describe(v))
}

func (l *mainLoader) int(key string, v *yaml.Node) (int, bool) {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!int" {
		var n int
		if err := v.Decode(&n); err == nil {
			return n, true
		}
	}
	// A quoted integer ("8") is read as the integer, as Python's int() would.
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
		if n, err := strconv.Atoi(strings.TrimSpace(v.Value)); err == nil {
			return n, true
		}
	}
	l.fail(v, "%s: expected an integer, found %s", key, describe(v))
	return 0, false
}

func (l *mainLoader) duration(key string, v *yaml.Node) (time.Duration, bool) {
	d, err := parseDuration(v)
	if err != nil {
		l.fail(v, "%s: %v", key, err)
		return 0, false
	}
	return d, true
}

// Duration is a time.Duration read from YAML as "30s", "1m30s" or a plain
// number of seconds (int or float); negative values are refused.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as a Go duration ("30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalYAML reads "30s", "1m30s" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if isNull(n) {
		return nil
	}
	v, err := parseDuration(n)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// Set parses "30s", "1m30s" or a number of seconds (flag.Value).
func (d *Duration) Set(s string) error {
	v, err := parseDurationString(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalText is Set, for encoding/json and other text decoders.
func (d *Duration) UnmarshalText(b []byte) error { return d.Set(string(b)) }

const durationHint = `(use e.g. "30s", "1m30s" or a number of seconds)`

func parseDuration(n *yaml.Node) (time.Duration, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("expected a duration %s, found %s", durationHint, describe(n))
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		f, err := numberSeconds(n)
		if err != nil {
			return 0, err
		}
		return secondsToDuration(f)
	case "!!str":
		return parseDurationString(n.Value)
	}
	return 0, fmt.Errorf("expected a duration %s, found %s", durationHint, describe(n))
}

func parseDurationString(text string) (time.Duration, error) {
	s := strings.TrimSpace(text)
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%w, found %s", errNegative, s)
		}
		return d, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return secondsToDuration(f)
	}
	return 0, fmt.Errorf("invalid duration %q %s", text, durationHint)
}

func secondsToDuration(f float64) (time.Duration, error) {
	if f < 0 {
		return 0, fmt.Errorf("%w, found %v", errNegative, f)
	}
	ns := math.Round(f * float64(time.Second))
	if ns >= math.MaxInt64 {
		return 0, fmt.Errorf("too large: %v seconds", f)
	}
	return time.Duration(ns), nil
}

// closest is the known key within two edits of s, if any.
func closest(s string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(s, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
