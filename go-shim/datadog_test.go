package pyhost

// Checks written against datadog_checks_base (PyPI datadog-checks-base,
// installed into the venv by `make venv`) running unmodified, and the
// Datadog Agent's builtin modules answering as the agent does.

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// configure sets the agent settings (_pyhost_datadog.configure) for the test,
// and resets them after it.
func configure(t *testing.T, rt *Runtime, settings map[string]any) {
	t.Helper()
	fn, err := rt.LoadFunction("_pyhost_datadog", "configure")
	if err != nil {
		t.Fatalf("LoadFunction(_pyhost_datadog, configure): %v", err)
	}
	call := func(s map[string]any) error {
		args, err := json.Marshal([]any{s})
		if err != nil {
			return err
		}
		_, err = fn.Call(args)
		return err
	}
	if err := call(settings); err != nil {
		t.Fatalf("configure(%v): %v", settings, err)
	}
	t.Cleanup(func() {
		if err := call(map[string]any{}); err != nil {
			t.Errorf("configure({}): %v", err)
		}
		_ = fn.Close()
	})
}

// callJSON calls module.name(args...) and decodes its result into out.
func callJSON(t *testing.T, rt *Runtime, module, name string, out any, args ...any) {
	t.Helper()
	fn, err := rt.LoadFunction(module, name)
	if err != nil {
		t.Fatalf("LoadFunction(%s, %s): %v", module, name, err)
	}
	defer fn.Close()
	if args == nil {
		args = []any{}
	}
	in, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	res, err := fn.Call(in)
	if err != nil {
		t.Fatalf("%s.%s: %v", module, name, err)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("%s.%s returned %s: %v", module, name, res, err)
		}
	}
}

func requireDatadogBase(t *testing.T, rt *Runtime) {
	t.Helper()
	var installed bool
	callJSON(t, rt, "dd_agent", "has_datadog_base", &installed)
	if !installed {
		t.Skip("datadog-checks-base is not installed in the embedded Python (make venv installs it)")
	}
}

func TestDatadogCheckSubmitsEverything(t *testing.T) {
	rt, logs := startRuntime(t)
	requireDatadogBase(t, rt)
	runDir := t.TempDir()
	configure(t, rt, map[string]any{"run_dir": runDir, "hostname": "pyhost-test-host"})
	chk := loadCheck(t, rt, "dd_everything.py", map[string]any{"tags": []any{"role:db"}})
	res, err := chk.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	tags := []string{"team:core", "role:db"}
	wantMetrics := []Metric{
		{Name: "dd.gauge", Type: Gauge, Value: 1.5, Tags: tags},
		{Name: "dd.count", Type: Count, Value: 2, Tags: tags, Hostname: "other-host"},
		{Name: "dd.monotonic", Type: MonotonicCount, Value: 10, Tags: tags, FlushFirstValue: true},
		{Name: "dd.rate", Type: Rate, Value: 3},
		{Name: "dd.histogram", Type: Histogram, Value: 4, Tags: tags},
		{Name: "dd.historate", Type: Historate, Value: 5},
		{Name: "dd.increment", Type: Counter, Value: 1},
		{Name: "dd.decrement", Type: Counter, Value: -1},
		{Name: "dd.device", Type: Gauge, Value: 6, Tags: []string{"device:sda"}},
		{Name: "raw.gauge", Type: Gauge, Value: 7},
		{Name: "dd.bytes.tags", Type: Gauge, Value: 8, Tags: []string{"b:1", "s:2"}},
		{Name: "dd.runs", Type: Gauge, Value: 1},
	}
	if len(res.Metrics) != len(wantMetrics) {
		t.Fatalf("metrics = %+v, want %d", res.Metrics, len(wantMetrics))
	}
	for i, want := range wantMetrics {
		got := res.Metrics[i]
		if len(got.Tags) == 0 {
			got.Tags = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("metric %d = %+v, want %+v", i, got, want)
		}
	}
	wantChecks := []ServiceCheck{
		{Name: "dd.can_connect", Status: StatusOK, Tags: tags},
		{Name: "dd.degraded", Status: StatusWarning, Hostname: "db-1", Message: "slow"},
	}
	if !reflect.DeepEqual(res.ServiceChecks, wantChecks) {
		t.Errorf("service checks = %+v, want %+v", res.ServiceChecks, wantChecks)
	}
	wantEvent := Event{
		Timestamp: 1700000000, EventType: "deploy", Title: "title", Text: "text",
		AggregationKey: "agg", AlertType: "info", SourceTypeName: "dd", Host: "web-1",
		Tags: tags, Priority: "normal",
	}
	if len(res.Events) != 1 || !reflect.DeepEqual(res.Events[0], wantEvent) {
		t.Errorf("events = %+v, want %+v", res.Events, wantEvent)
	}
	wantBuckets := []HistogramBucket{
		{Name: "dd.bucket", Value: 3, LowerBound: 0, UpperBound: 10, Monotonic: true, Hostname: "bucket-host", Tags: tags, FlushFirstValue: true},
		{Name: "dd.bucket", Value: 5, LowerBound: 10, UpperBound: math.Inf(1), Tags: tags},
	}
	if !reflect.DeepEqual(res.HistogramBuckets, wantBuckets) {
		t.Errorf("histogram buckets = %+v, want %+v", res.HistogramBuckets, wantBuckets)
	}
	wantPlatform := []PlatformEvent{
		{EventType: "dbm-samples", RawEvent: `{"query":"SELECT 1"}`},
		{EventType: "dbm-activity", RawEvent: "\ufffdraw"},
	}
	if !reflect.DeepEqual(res.PlatformEvents, wantPlatform) {
		t.Errorf("platform events = %+v, want %+v", res.PlatformEvents, wantPlatform)
	}
	metadata := map[string]string{}
	for _, m := range res.Metadata {
		metadata[m.Name] = m.Value
	}
	wantMetadata := map[string]string{
		"version.major": "1", "version.minor": "2", "version.patch": "3",
		"version.raw": "1.2.3", "version.scheme": "semver", "flavor": "community",
	}
	if !reflect.DeepEqual(metadata, wantMetadata) {
		t.Errorf("metadata = %v, want %v", metadata, wantMetadata)
	}
	if len(res.ExternalTags) != 1 || string(res.ExternalTags[0]) != `[["ext-host",{"vsphere":["a:b","c:d"]}]]` {
		t.Errorf("external tags = %s", res.ExternalTags)
	}
	// The NaN (a pyhost difference: the agent forwards it), the check's own
	// warning, and AgentCheck's deprecation notices (increment, device_name).
	var warnings []string
	for _, w := range res.Warnings {
		if !strings.HasPrefix(w, "DEPRECATION NOTICE: ") {
			warnings = append(warnings, w)
		}
	}
	wantWarnings := []string{"Metric 'dd.nan' has non-finite value nan; dropped", "careful: this"}
	if !reflect.DeepEqual(warnings, wantWarnings) {
		t.Errorf("warnings = %q, want %q", res.Warnings, wantWarnings)
	}

	// Records from the check reach Go once, with the check's id.
	var seen []slog.Record
	logs.mu.Lock()
	for _, r := range logs.records {
		if strings.Contains(r.Message, "everything ran") {
			seen = append(seen, r)
		}
	}
	logs.mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("log record forwarded %d times: %+v", len(seen), seen)
	}
	var checkID string
	seen[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "check_id" {
			checkID = a.Value.String()
		}
		return true
	})
	if seen[0].Message != "everything ran" || checkID != chk.ID() {
		t.Errorf("log record %q with check_id %q, want %q", seen[0].Message, checkID, chk.ID())
	}

	// The persistent cache carries the count to the next run, and lives in
	// the run directory.
	res, err = chk.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Metrics[len(res.Metrics)-1]; m.Name != "dd.runs" || m.Value != 2 {
		t.Errorf("second run: %+v, want dd.runs = 2", m)
	}
	if _, err := os.Stat(filepath.Join(runDir, "persistent_cache.db")); err != nil {
		t.Errorf("no cache database: %v", err)
	}
}

func TestDatadogCheckRaising(t *testing.T) {
	rt, _ := startRuntime(t)
	requireDatadogBase(t, rt)
	chk := loadCheck(t, rt, "dd_raising.py", nil)
	res, err := chk.Run(context.Background())
	var pe *PythonError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *PythonError", err)
	}
	// AgentCheck.run() reports no type: it comes from the traceback.
	if pe.Type != "KeyError" || pe.Message != "'missing'" || !strings.Contains(pe.Traceback, `{}["missing"]`) {
		t.Errorf("python error = %+v", pe)
	}
	if res == nil || len(res.Metrics) != 1 || res.Metrics[0].Name != "before.raise" {
		t.Errorf("metrics = %+v", res)
	}
}

func TestDatadogSubprocessOutput(t *testing.T) {
	rt, _ := startRuntime(t)
	requireDatadogBase(t, rt)
	chk := loadCheck(t, rt, "dd_subprocess.py", map[string]any{
		"command": []any{"sh", "-c", "echo hi; echo oops >&2; exit 3"},
	})
	res, err := chk.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Metrics) != 1 || res.Metrics[0].Value != 3 || strings.Join(res.Metrics[0].Tags, ",") != "out:hi,err:oops" {
		t.Errorf("metrics = %+v", res.Metrics)
	}

	// The settings' timeout kills a command that runs too long.
	configure(t, rt, map[string]any{"subprocess_timeout": 0.5})
	slow := loadCheck(t, rt, "dd_subprocess.py", map[string]any{"command": []any{"sleep", "30"}})
	start := time.Now()
	_, err = slow.Run(context.Background())
	var pe *PythonError
	if !errors.As(err, &pe) || pe.Type != "TimeoutError" || !strings.Contains(pe.Message, "subprocess_timeout") {
		t.Errorf("err = %v, want TimeoutError", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the timeout took %v", took)
	}

	// A cancelled check does not wait for its command.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	configure(t, rt, map[string]any{"subprocess_timeout": 60})
	start = time.Now()
	if _, err := slow.Run(ctx); !errors.Is(err, ErrCancelled) {
		t.Errorf("err = %v, want ErrCancelled", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("cancelling took %v", took)
	}
}

func TestDatadogAgentSettings(t *testing.T) {
	rt, _ := startRuntime(t)
	hostname, _ := os.Hostname()
	var before map[string]any
	callJSON(t, rt, "dd_agent", "agent_info", &before)
	if before["hostname"] != hostname || before["metadata"] != true || before["missing"] != nil || before["run_path"] != nil || before["cache_missing"] != "" {
		t.Errorf("before configure: %v", before)
	}
	if level := before["log_level"]; level != "debug" {
		t.Errorf("log_level = %v, want the host's level (debug)", level)
	}
	var writeErr string
	callJSON(t, rt, "dd_agent", "cache_write_fails", &writeErr)
	if !strings.Contains(writeErr, "no run directory") {
		t.Errorf("write without a run directory: %q", writeErr)
	}

	runDir := t.TempDir()
	configure(t, rt, map[string]any{
		"run_dir": runDir, "hostname": "agent-host", "version": "7.99.0", "cluster_name": "prod-eu",
		"host_tags": map[string]any{"system": []any{"env:prod"}},
		"config":    map[string]any{"custom_key": []any{1, "two"}, "tracemalloc_debug": true},
	})
	var after map[string]any
	callJSON(t, rt, "dd_agent", "agent_info", &after)
	want := map[string]any{
		"hostname": "agent-host", "version": "7.99.0", "cluster_name": "prod-eu",
		"host_tags": `{"system": ["env:prod"]}`, "metadata": true, "run_path": runDir,
		"custom": []any{1.0, "two"}, "missing": nil, "tracemalloc": true,
		"headers": map[string]any{
			"User-Agent": "Datadog Agent/7.99.0", "Content-Type": "application/x-www-form-urlencoded",
			"Accept": "text/html, */*", "Host": "example.com",
		},
		"util_headers": map[string]any{
			"User-Agent": "Datadog Agent/7.99.0", "Content-Type": "application/x-www-form-urlencoded",
			"Accept": "text/html, */*",
		},
		"tags": []any{}, "get_tags": []any{}, "constants": []any{0.0, 1.0, 2.0},
		"excluded": false, "kubelet": map[string]any{}, "cache_missing": "",
	}
	for k, v := range want {
		if !reflect.DeepEqual(after[k], v) {
			t.Errorf("%s = %#v, want %#v", k, after[k], v)
		}
	}
	start, _ := after["start_time"].(float64)
	if now := float64(time.Now().Unix()); start <= 0 || start > now || start != math.Trunc(start) {
		t.Errorf("process start time = %v", after["start_time"])
	}
}

// Two agent processes writing the same cache file at once lose nothing, and
// what they wrote is there after they exit.
func TestPersistentCacheAcrossProcesses(t *testing.T) {
	const n = 200
	runDir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([][]byte, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = runSelf(t, "TestPersistentCacheWriter",
				"PYHOST_TEST_CACHE_DIR="+runDir, "PYHOST_TEST_CACHE_PREFIX=p"+strconv.Itoa(i)+":", "PYHOST_TEST_CACHE_N="+strconv.Itoa(n))
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	rt, _ := startRuntime(t)
	configure(t, rt, map[string]any{"run_dir": runDir})
	for i := range 2 {
		var count int
		callJSON(t, rt, "dd_agent", "cache_count", &count, "p"+strconv.Itoa(i)+":", n)
		if count != n {
			t.Errorf("writer %d: %d of %d values survived", i, count, n)
		}
	}
	var shared string
	callJSON(t, rt, "dd_agent", "cache_read", &shared, "shared")
	if shared != "p0:" && shared != "p1:" {
		t.Errorf("shared = %q", shared)
	}
}

// TestPersistentCacheWriter runs only as TestPersistentCacheAcrossProcesses's child.
func TestPersistentCacheWriter(t *testing.T) {
	dir := os.Getenv("PYHOST_TEST_CACHE_DIR")
	if dir == "" {
		t.Skip("run by TestPersistentCacheAcrossProcesses")
	}
	n, _ := strconv.Atoi(os.Getenv("PYHOST_TEST_CACHE_N"))
	rt, _ := startRuntime(t)
	configure(t, rt, map[string]any{"run_dir": dir})
	callJSON(t, rt, "dd_agent", "cache_write_many", nil, os.Getenv("PYHOST_TEST_CACHE_PREFIX"), n)
}

// Wrong calls into every builtin raise what the Datadog Agent raises.
func TestDatadogBuiltinsWrongCalls(t *testing.T) {
	rt, _ := startRuntime(t)
	var got map[string][2]string
	callJSON(t, rt, "dd_builtins", "wrong_calls", &got)
	none := [2]string{"", ""}
	want := map[string][2]string{
		"metric keyword":                {"TypeError", "submit_metric() takes no keyword arguments"},
		"metric too few":                {"TypeError", "function takes at least 7 arguments (6 given)"},
		"metric too many":               {"TypeError", "function takes at most 8 arguments (9 given)"},
		"metric id bytes":               {"TypeError", "argument 2 must be str, not bytes"},
		"metric type float":             {"TypeError", "'float' object cannot be interpreted as an integer"},
		"metric type huge":              {"OverflowError", "signed integer is greater than maximum"},
		"metric name None":              {"TypeError", "argument 4 must be str, not None"},
		"metric name NUL":               {"ValueError", "embedded null character"},
		"metric name surrogate":         {"UnicodeEncodeError", "'utf-8' codec can't encode character '\\udcff' in position 0: surrogates not allowed"},
		"metric value str":              {"TypeError", "must be real number, not str"},
		"metric value None":             {"TypeError", "must be real number, not NoneType"},
		"metric value huge":             {"OverflowError", "int too large to convert to float"},
		"metric hostname None":          {"TypeError", "argument 7 must be str, not None"},
		"metric flush -1":               {"OverflowError", "unsigned byte integer is less than minimum"},
		"metric flush None":             {"TypeError", "'NoneType' object cannot be interpreted as an integer"},
		"metric tags None":              {"TypeError", "tags must be a sequence"},
		"metric tags dict":              {"TypeError", "tags must be a sequence"},
		"metric tags set":               {"TypeError", "tags must be a sequence"},
		"metric tags generator":         {"TypeError", "tags must be a sequence"},
		"metric unknown id":             none,
		"metric unknown type":           none,
		"service keyword":               {"TypeError", "submit_service_check() takes no keyword arguments"},
		"service six args":              {"TypeError", "function takes exactly 7 arguments (6 given)"},
		"service hostname None":         {"TypeError", "argument 6 must be str, not None"},
		"service message None":          {"TypeError", "argument 7 must be str, not None"},
		"service tags None":             {"TypeError", "tags must be a sequence"},
		"event not dict":                {"TypeError", "event must be a dict"},
		"event tags None":               {"TypeError", "tags must be a sequence"},
		"bucket value float":            {"TypeError", "'float' object cannot be interpreted as an integer"},
		"bucket hostname None":          {"TypeError", "argument 8 must be str, not None"},
		"platform bytearray":            {"TypeError", "argument 3 must be read-only bytes-like object, not bytearray"},
		"platform None":                 {"TypeError", "a bytes-like object is required, not 'NoneType'"},
		"platform type None":            {"TypeError", "argument 4 must be str, not None"},
		"get_version arg":               {"TypeError", "datadog_agent.get_version() takes no arguments (1 given)"},
		"get_hostname keyword":          {"TypeError", "datadog_agent.get_hostname() takes no keyword arguments"},
		"get_config bytes":              {"TypeError", "argument 1 must be str, not bytes"},
		"get_config keyword":            {"TypeError", "get_config() takes no keyword arguments"},
		"log level str":                 {"TypeError", "'str' object cannot be interpreted as an integer"},
		"set_check_metadata int":        {"TypeError", "argument 3 must be str, not int"},
		"read_persistent_cache keyword": {"TypeError", "read_persistent_cache() takes no keyword arguments"},
		"set_external_tags tuple":       {"TypeError", "tags must be a list"},
		"external not tuple":            {"TypeError", "external host tags list must contain only tuples"},
		"external hostname int":         {"TypeError", "hostname is not a valid string"},
		"external one-tuple":            {"TypeError", "second elem of the host tags tuple must be a dict"},
		"external not dict":             {"TypeError", "second elem of the host tags tuple must be a dict"},
		"external source int":           {"TypeError", "source_type is not a valid string"},
		"external tags tuple":           {"TypeError", "dict value must be a list of tags"},
		"tracemalloc keyword":           {"TypeError", "tracemalloc_enabled() takes no keyword arguments"},
		"telemetry value str":           {"TypeError", "must be real number, not str"},
		"obfuscate_sql options None":    {"TypeError", "argument 2 must be str, not None"},
		"obfuscate_sql bad keyword":     {"TypeError", "'bad' is an invalid keyword argument for this function"},
		"subprocess no args":            {"TypeError", "get_subprocess_output() missing required argument 'command' (pos 1)"},
		"subprocess env positional":     {"TypeError", "get_subprocess_output() takes at most 2 positional arguments (3 given)"},
		"subprocess str command":        {"TypeError", "command args is not a list"},
		"subprocess empty":              {"TypeError", "invalid command: empty list"},
		"subprocess int arg":            {"TypeError", "command argument must be valid strings"},
		"subprocess env list":           {"TypeError", "env is not a dict"},
		"subprocess env key":            {"TypeError", "env key is not a string"},
		"subprocess env value":          {"TypeError", "env value is not a string"},
		"subprocess raise None":         {"TypeError", "bad raise_on_empty argument: should be bool"},
		"subprocess empty output":       {"SubprocessOutputEmptyError", "get_subprocess_output expected output but had none."},
		"tag cardinality":               {"TypeError", "Invalid cardinality"},
		"tag entity None":               {"TypeError", "argument 1 must be str, not None"},
		"is_excluded namespace None":    {"TypeError", "argument 3 must be str, not None"},
		"get_connection_info arg":       {"TypeError", "kubeutil.get_connection_info() takes no arguments (1 given)"},
		"util.headers":                  none,
	}
	for label, w := range want {
		if g, ok := got[label]; !ok || g != w {
			t.Errorf("%s: raised %q, want %q", label, g, w)
		}
	}
	for _, label := range []string{"obfuscate_sql", "obfuscate_sql_exec_plan", "obfuscate_mongodb_string"} {
		// This runtime defines no obfuscator (the agent does: datadog.DefineObfuscator).
		if g := got[label]; g[0] != "RuntimeError" || !strings.HasPrefix(g[1], label+" is not available: the host program defines no obfuscator") {
			t.Errorf("%s: raised %q, want a RuntimeError saying it is not available", label, g)
		}
	}
	if g := got["subprocess missing"]; g[0] != "FileNotFoundError" {
		t.Errorf("a missing executable raised %q, want FileNotFoundError", g)
	}

	// Everything the agent parses with PyArg_ParseTuple fails as CPython's
	// own PyArg_ParseTuple does with rtloader's format string.
	var diffs map[string][2][2]string
	callJSON(t, rt, "dd_builtins", "differential", &diffs)
	for label, d := range diffs {
		t.Errorf("%s: pyhost raised %q, PyArg_ParseTuple raises %q", label, d[0], d[1])
	}
}

// A module importing base classes besides its own check (as integrations
// do) loads: the class defined in the module is the check.
func TestDatadogCheckClassAmongImportedBases(t *testing.T) {
	rt, _ := startRuntime(t)
	requireDatadogBase(t, rt)
	chk := loadCheck(t, rt, "dd_imports_bases.py", nil)
	res, err := chk.Run(context.Background())
	if err != nil || len(res.Metrics) != 1 || res.Metrics[0].Name != "own.check" {
		t.Errorf("run: %v %+v", err, res)
	}
}
