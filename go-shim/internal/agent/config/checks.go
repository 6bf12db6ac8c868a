package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultInterval is an instance's run interval when it sets no
// min_collection_interval (or sets 0), as in the Datadog Agent.
const DefaultInterval = 15 * time.Second

// RunTimeoutKey is the instance key for a run's deadline, pyhost's own (no
// integration reads it); default_timeout applies when it is unset or 0.
const RunTimeoutKey = "pyhost_run_timeout"

// Instance is one configured check instance.
type Instance struct {
	Check      string         // check name (from the file or <check>.d directory name)
	File       string         // config file
	Line       int            // line of the instance in File
	Index      int            // position in `instances:` (0-based)
	InitConfig map[string]any // `init_config:` of its file (empty map if null); each instance has its own copy
	Config     map[string]any // the instance mapping as written, as plain Go values (map[string]any, []any, string, int, float64, bool, nil)
	Interval   time.Duration  // min_collection_interval; DefaultInterval when unset or 0
	RunTimeout time.Duration  // `pyhost_run_timeout` (seconds): the run's deadline; 0 = not set (the agent applies default_timeout)
	Tags       []string       // `tags:`
}

// Problem is one configuration error: FILE:LINE: check NAME: message.
// Line 0 means the problem has no line (a missing file or key).
type Problem struct {
	Check, File string
	Line        int
	Msg         string
}

func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Check != "" {
		b.WriteString("check ")
		b.WriteString(p.Check)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// LoadChecks reads every check configuration in confDir, as the Datadog
// Agent does:
//
//   - <check>.yaml, <check>.yml, and every *.yaml / *.yml file directly in
//     <check>.d/ (subdirectories are not read);
//   - <check>.yaml.default (or a *.yaml.default in <check>.d/) is used only
//     when the check has no other configuration file;
//   - any other name (conf.yaml.example, *.disabled, …), metrics.yaml,
//     auto_conf.yaml, hidden files and directories not named *.d are ignored;
//   - a file with `logs:` and no instances configures only logs: it is
//     skipped without a problem.
//
// It returns the valid instances, sorted by check, file and index, and every
// problem. A file that cannot be used as a whole gives one problem and no
// instances; a bad instance gives a problem for itself only.
func LoadChecks(confDir string) ([]Instance, []Problem) {
	insts, probs, _ := loadChecks(confDir, "")
	return insts, probs
}

// LoadCheck is LoadChecks restricted to the check name; other checks' files
// are not read. No configuration at all for name gives one Problem saying
// where it looked.
func LoadCheck(confDir, name string) ([]Instance, []Problem) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return nil, []Problem{{Check: name, File: confDir, Msg: "invalid check name"}}
	}
	insts, probs, ignored := loadChecks(confDir, name)
	if len(insts) == 0 && len(probs) == 0 {
		msg := fmt.Sprintf("no configuration found; looked for %s, %s and %s (or .default variants)",
			filepath.Join(confDir, name+".yaml"), filepath.Join(confDir, name+".yml"),
			filepath.Join(confDir, name+".d", "*.yaml"))
		if len(ignored) > 0 {
			msg += "; ignored " + strings.Join(ignored, ", ")
		}
		probs = append(probs, Problem{Check: name, File: confDir, Msg: msg})
	}
	return insts, probs
}

// candidate is a configuration file found in the conf directory.
type candidate struct {
	check     string
	path      string
	isDefault bool
}

// loadChecks loads every check, or only the check named only; it also
// returns the files it ignored for that check.
func loadChecks(confDir, only string) ([]Instance, []Problem, []string) {
	cands, ignored, problems := scan(confDir, only)

	byCheck := map[string][]candidate{}
	var names []string
	for _, c := range cands {
		if _, ok := byCheck[c.check]; !ok {
			names = append(names, c.check)
		}
		byCheck[c.check] = append(byCheck[c.check], c)
	}
	sort.Strings(names)

	var instances []Instance
	for _, name := range names {
		var regular, defaults []candidate
		for _, c := range byCheck[name] {
			if c.isDefault {
				defaults = append(defaults, c)
			} else {
				regular = append(regular, c)
			}
		}
		configured := false
		for _, c := range regular {
			insts, probs, logsOnly := loadFile(c.check, c.path)
			instances = append(instances, insts...)
			problems = append(problems, probs...)
			if !logsOnly {
				configured = true
			}
		}
		if configured {
			continue
		}
		for _, c := range defaults {
			insts, probs, _ := loadFile(c.check, c.path)
			instances = append(instances, insts...)
			problems = append(problems, probs...)
		}
	}

	sort.SliceStable(instances, func(i, j int) bool {
		a, b := instances[i], instances[j]
		if a.Check != b.Check {
			return a.Check < b.Check
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Index < b.Index
	})
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i], problems[j]
		if a.Check != b.Check {
			return a.Check < b.Check
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return instances, problems, ignored
}

// scan lists the configuration files in confDir (for the check only, if
// set) and, for that check, the files it ignored.
func scan(confDir, only string) ([]candidate, []string, []Problem) {
	var cands []candidate
	var ignored []string
	entries, err := os.ReadDir(confDir)
	if err != nil {
		msg := fmt.Sprintf("cannot read the conf directory: %v", unwrapPath(err))
		if errors.Is(err, fs.ErrNotExist) {
			msg = "the conf directory does not exist"
		}
		return nil, nil, []Problem{{Check: only, File: confDir, Msg: msg}}
	}
	var problems []Problem
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		full := filepath.Join(confDir, name)
		if isDir(full, e) {
			check, ok := strings.CutSuffix(name, ".d")
			if !ok || check == "" || (only != "" && check != only) {
				continue
			}
			sub, err := os.ReadDir(full)
			if err != nil {
				problems = append(problems, Problem{Check: check, File: full,
					Msg: fmt.Sprintf("cannot read directory: %v", unwrapPath(err))})
				continue
			}
			for _, s := range sub {
				sp := filepath.Join(full, s.Name())
				if strings.HasPrefix(s.Name(), ".") || isDir(sp, s) {
					continue
				}
				if _, isDefault, ok := classify(s.Name()); ok {
					cands = append(cands, candidate{check: check, path: sp, isDefault: isDefault})
				} else if only != "" {
					ignored = append(ignored, sp)
				}
			}
			continue
		}
		check, isDefault, ok := classify(name)
		if !ok {
			if only != "" && strings.HasPrefix(name, only+".") {
				ignored = append(ignored, full)
			}
			continue
		}
		if only != "" && check != only {
			continue
		}
		cands = append(cands, candidate{check: check, path: full, isDefault: isDefault})
	}
	return cands, ignored, problems
}

// classify tells whether a file name is a check configuration: NAME.yaml,
// NAME.yml, or either with ".default" appended. metrics.yaml (JMX metric
// definitions) and auto_conf.yaml (autodiscovery templates) are not.
func classify(file string) (stem string, isDefault, ok bool) {
	base, isDefault := strings.CutSuffix(file, ".default")
	ext := filepath.Ext(base)
	if ext != ".yaml" && ext != ".yml" {
		return "", false, false
	}
	stem = strings.TrimSuffix(base, ext)
	switch stem {
	case "", "metrics", "auto_conf":
		return "", false, false
	}
	return stem, isDefault, true
}

// isDir reports whether an entry is a directory, following symlinks.
func isDir(path string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink != 0 {
		fi, err := os.Stat(path)
		return err == nil && fi.IsDir()
	}
	return e.IsDir()
}

// unwrapPath drops the path from an *fs.PathError (the Problem names it).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileLoader collects the problems of one check configuration file.
type fileLoader struct {
	check, file string
	problems    []Problem
}

func (f *fileLoader) fail(line int, format string, args ...any) {
	f.problems = append(f.problems, Problem{Check: f.check, File: f.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// loadFile reads one check configuration file. logsOnly reports a file that
// configures only logs (no instances, no problem).
func loadFile(check, path string) (instances []Instance, problems []Problem, logsOnly bool) {
	f := &fileLoader{check: check, file: path}
	instances, logsOnly = f.load()
	return instances, f.problems, logsOnly
}

func (f *fileLoader) load() ([]Instance, bool) {
	data, err := os.ReadFile(f.file)
	if err != nil {
		f.fail(0, "cannot read: %v", unwrapPath(err))
		return nil, false
	}
	root, syn := parseYAML(data)
	if syn != nil {
		f.fail(syn.line, "%s", syn.msg)
		return nil, false
	}
	if root == nil || isNull(root) {
		f.fail(0, "the file is empty; a check configuration needs `instances:` (e.g. `instances: [{}]`)")
		return nil, false
	}
	if root.Kind != yaml.MappingNode {
		f.fail(root.Line, "expected a mapping with `init_config:` and `instances:`, found %s", describe(root))
		return nil, false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := deref(root.Content[i])
		if k.Kind != yaml.ScalarNode {
			continue
		}
		if first, dup := seen[k.Value]; dup {
			f.fail(k.Line, "duplicate key %q (first at line %d)", k.Value, first)
			return nil, false
		}
		seen[k.Value] = k.Line
	}

	if ad := lookup(root, "ad_identifiers"); ad != nil && !isNull(ad) {
		f.fail(ad.Line, "autodiscovery templates (ad_identifiers) are not supported")
		return nil, false
	}

	initNode := lookup(root, "init_config")
	if initNode != nil && !isNull(initNode) {
		if deref(initNode).Kind != yaml.MappingNode {
			f.fail(initNode.Line, "init_config must be a mapping, found %s", describe(initNode))
			return nil, false
		}
		if _, probs := toPlain(initNode); len(probs) > 0 {
			for _, p := range probs {
				f.fail(p.line, "init_config: %s", p.msg)
			}
			return nil, false
		}
	} else {
		initNode = nil
	}

	instNode := lookup(root, "instances")
	logs := lookup(root, "logs")
	hasLogs := logs != nil && !isNull(logs)
	switch {
	case instNode == nil || isNull(instNode):
		if hasLogs {
			return nil, true
		}
		f.fail(0, "no `instances:`; a check configuration needs a list of instances (e.g. `instances: [{}]`)")
		return nil, false
	case deref(instNode).Kind != yaml.SequenceNode:
		f.fail(instNode.Line, "instances must be a list, found %s", describe(instNode))
		return nil, false
	case len(deref(instNode).Content) == 0:
		if hasLogs {
			return nil, true
		}
		f.fail(instNode.Line, "`instances:` is empty; give at least one instance (e.g. `instances: [{}]`)")
		return nil, false
	}

	var out []Instance
	for i, item := range deref(instNode).Content {
		if inst, ok := f.instance(i, item, initNode); ok {
			out = append(out, inst)
		}
	}
	return out, false
}

// instance reads instances[i]; a problem skips this instance only.
func (f *fileLoader) instance(i int, item, initNode *yaml.Node) (Instance, bool) {
	before := len(f.problems)
	fail := func(line int, format string, args ...any) {
		f.fail(line, "instance %d: %s", i+1, fmt.Sprintf(format, args...))
	}
	inst := Instance{Check: f.check, File: f.file, Line: item.Line, Index: i, Interval: DefaultInterval}

	// A null instance ("- " alone) is an empty one, as in the Datadog Agent.
	if isNull(item) {
		inst.Config = map[string]any{}
	} else {
		m := deref(item)
		if m.Kind != yaml.MappingNode {
			fail(item.Line, "expected a mapping, found %s", describe(item))
			return Instance{}, false
		}
		v, probs := toPlain(item)
		for _, p := range probs {
			fail(p.line, "%s", p.msg)
		}
		inst.Config, _ = v.(map[string]any)

		if n := lookup(m, "min_collection_interval"); n != nil && !isNull(n) {
			if d, err := seconds(n); err != nil {
				fail(n.Line, "min_collection_interval: %v", err)
			} else if d > 0 {
				inst.Interval = d
			}
		}
		// The run's deadline has a key of its own: `timeout` belongs to the
		// integration (http_check's request timeout, tls's socket timeout),
		// which reports a failure when it passes; pyhost must not cut the run
		// short exactly then.
		if n := lookup(m, RunTimeoutKey); n != nil && !isNull(n) {
			if d, err := seconds(n); err != nil {
				fail(n.Line, "%s: %v", RunTimeoutKey, err)
			} else {
				inst.RunTimeout = d
			}
		}
		if n := lookup(m, "tags"); n != nil && !isNull(n) {
			tags := deref(n)
			if tags.Kind != yaml.SequenceNode {
				fail(n.Line, "tags must be a list of strings, found %s", describe(n))
			} else {
				inst.Tags = make([]string, 0, len(tags.Content))
				for j, t := range tags.Content {
					dt := deref(t)
					if dt.Kind != yaml.ScalarNode || dt.ShortTag() != "!!str" {
						fail(t.Line, "tags[%d] must be a string, found %s (quote it)", j, describe(t))
						continue
					}
					inst.Tags = append(inst.Tags, dt.Value)
				}
			}
		}
	}
	if len(f.problems) > before {
		return Instance{}, false
	}
	inst.InitConfig = map[string]any{}
	if initNode != nil {
		v, _ := toPlain(initNode)
		if m, ok := v.(map[string]any); ok {
			inst.InitConfig = m
		}
	}
	return inst, true
}

// seconds reads a non-negative number of seconds (int, float, or a quoted
// number).
func seconds(n *yaml.Node) (time.Duration, error) {
	f, err := numberSeconds(n)
	if err != nil {
		return 0, err
	}
	if f < 0 {
		return 0, fmt.Errorf("%w, found %s", errNegative, deref(n).Value)
	}
	return secondsToDuration(f)
}

// lookup finds key's value in a mapping, explicit keys first, then keys
// merged in with <<.
func lookup(m *yaml.Node, key string) *yaml.Node {
	return lookupDepth(deref(m), key, 0)
}

func lookupDepth(m *yaml.Node, key string, depth int) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode || depth > 32 {
		return nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, m.Content[i+1])
			continue
		}
		if dk := deref(k); dk.Kind == yaml.ScalarNode && dk.Value == key {
			return m.Content[i+1]
		}
	}
	for _, mg := range merges {
		dm := deref(mg)
		sources := []*yaml.Node{dm}
		if dm.Kind == yaml.SequenceNode {
			sources = dm.Content
		}
		for _, s := range sources {
			if v := lookupDepth(deref(s), key, depth+1); v != nil {
				return v
			}
		}
	}
	return nil
}
