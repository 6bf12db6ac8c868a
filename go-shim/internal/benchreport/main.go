// Command benchreport turns `go test -bench` output from the pyhost
// benchmarks into target/bench/results.json and docs/benchmarks.md: the
// median of every benchmark's repetitions, each paired with the floor
// measured in the same run, as a ratio.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// result is one line of results.json.
type result struct {
	Name          string  `json:"name"`
	NsPerOp       float64 `json:"ns_per_op"`
	FloorName     string  `json:"floor_name"`
	FloorNsPerOp  float64 `json:"floor_ns_per_op"`
	Ratio         float64 `json:"ratio"`
	goal          string
	met           *bool
	ok            func(ratio float64) bool
	what, floorIs string
}

var line = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// parse collects every repetition's metrics per benchmark: name → unit → values.
func parse(r io.Reader) (map[string]map[string][]float64, string) {
	out := map[string]map[string][]float64{}
	cpu := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		text := sc.Text()
		if strings.HasPrefix(text, "cpu: ") {
			cpu = strings.TrimPrefix(text, "cpu: ")
		}
		m := line.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		fields := strings.Fields(m[3])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			if out[m[1]] == nil {
				out[m[1]] = map[string][]float64{}
			}
			out[m[1]][fields[i+1]] = append(out[m[1]][fields[i+1]], v)
		}
	}
	return out, cpu
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	in := flag.String("in", "", "go test -bench output")
	jsonOut := flag.String("json", "", "results.json to write")
	mdOut := flag.String("md", "", "markdown report to write")
	command := flag.String("cmd", "make bench", "the command that produced the input")
	compareIn := flag.String("compare", "", "bench/compare's figures (compare.json), if any")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	data, cpu := parse(f)
	f.Close()

	// get is a measurement the report needs: one that is missing (a
	// benchmark that failed or was not run) fails the report, after it is
	// written, rather than publishing a zero. optional is one it may lack.
	var missing []string
	optional := func(name, unit string) float64 { return median(data[name][unit]) }
	get := func(name, unit string) float64 {
		if len(data[name][unit]) == 0 && !slices.Contains(missing, name+" "+unit) {
			missing = append(missing, name+" "+unit)
		}
		return optional(name, unit)
	}
	reps := func(name string) int { return len(data[name]["ns/op"]) }
	var results []result
	pair := func(name, what string, subject float64, floorName, floorIs string, floor float64, goal string, ok func(r float64) bool) {
		r := result{Name: name, NsPerOp: subject, FloorName: floorName, FloorNsPerOp: floor, what: what, floorIs: floorIs, goal: goal, ok: ok}
		if floor > 0 {
			r.Ratio = subject / floor
			if ok != nil {
				met := ok(r.Ratio)
				r.met = &met
			}
		}
		results = append(results, r)
	}
	le := func(limit float64) func(float64) bool { return func(r float64) bool { return r <= limit } }
	// paired replaces the last result's ratio with the median of per-round
	// ratios: make bench runs every benchmark once per round, so a subject
	// and its floor of the same round were measured seconds apart, and
	// pairing them cancels most of the machine's drift between rounds.
	paired := func(ratioOf func(round int) float64, rounds int) {
		if rounds == 0 {
			return // uneven repetitions: keep the ratio of the medians
		}
		ratios := make([]float64, rounds)
		for i := range ratios {
			ratios[i] = ratioOf(i)
		}
		r := &results[len(results)-1]
		r.Ratio = median(ratios)
		if r.ok != nil {
			met := r.ok(r.Ratio)
			r.met = &met
		}
	}
	at := func(name, unit string, i int) float64 { return data[name][unit][i] }
	// rounds is how many repetitions every series of the named benchmarks
	// has, or 0 if they differ (or one of them has none: it is reported
	// missing).
	rounds := func(names ...string) int {
		n := -1
		for _, name := range names {
			if len(data[name]) == 0 {
				return 0
			}
			for _, vs := range data[name] {
				if n != -1 && len(vs) != n {
					return 0
				}
				n = len(vs)
			}
		}
		return max(n, 0)
	}
	ratioRounds := func(subj, subjUnit, floor, floorUnit string) {
		if len(data[subj][subjUnit]) == 0 || len(data[floor][floorUnit]) == 0 {
			return
		}
		paired(func(i int) float64 { return at(subj, subjUnit, i) / at(floor, floorUnit, i) }, rounds(subj, floor))
	}

	callFloor, call8Floor := get("BenchmarkCallFloor", "ns/op"), get("BenchmarkCall8Floor", "ns/op")
	pair("call_noop_1_goroutine", "Go → Python no-op through the public API, 1 goroutine (interleaved with its floor in blocks of 10,000 calls)", get("BenchmarkCallPaired", "ns/call"),
		"c_gilstate_ensure_call_release_1_goroutine", "cgo → C: PyGILState_Ensure + the same no-op + Release, thread state kept", get("BenchmarkCallPaired", "floor-ns/call"),
		"≤ 1.25×", le(1.25))
	paired(func(i int) float64 { return at("BenchmarkCallPaired", "ratio", i) }, rounds("BenchmarkCallPaired"))
	pair("call_noop_1_goroutine_separate", "the same, measured as two separate benchmarks seconds apart", get("BenchmarkCall", "ns/op"),
		"c_gilstate_ensure_call_release_1_goroutine_separate", "the floor as its own benchmark", callFloor,
		"reported", nil)
	ratioRounds("BenchmarkCall", "ns/op", "BenchmarkCallFloor", "ns/op")
	pair("call_noop_8_goroutines", "the same, 8 goroutines (ns per call = 1/throughput)", get("BenchmarkCall8", "ns/op"),
		"c_gilstate_ensure_call_release_8_goroutines", "the C floor, 8 goroutines", call8Floor,
		"throughput ≥ 0.9× (ratio ≤ 1.11)", le(1/0.9))
	ratioRounds("BenchmarkCall8", "ns/op", "BenchmarkCall8Floor", "ns/op")
	pair("call_noop_8_goroutines_p50", "latency p50, 8 goroutines", get("BenchmarkCall8Latency", "p50-ns"),
		"c_floor_8_goroutines_p50", "the C floor's p50", get("BenchmarkCall8LatencyFloor", "p50-ns"), "reported", nil)
	pair("call_noop_8_goroutines_p99", "latency p99, 8 goroutines", get("BenchmarkCall8Latency", "p99-ns"),
		"c_floor_8_goroutines_p99", "the C floor's p99", get("BenchmarkCall8LatencyFloor", "p99-ns"), "reported", nil)

	submitFloor := get("BenchmarkSubmitFloor/accounting_off", "ns/metric")
	submit := get("BenchmarkSubmit/accounting_off", "ns/metric")
	callback := get("BenchmarkSubmitPerMetricCallback/accounting_off", "ns/metric")
	pair("submit_gauge_batched", "a check submits 100,000 gauges (2 tags); all received in Go, per metric (accounting off)", submit,
		"python_loop_noop_builtin", "a pure-Python loop calling a no-op builtin with the same arguments, per call", submitFloor,
		"≤ 3×", le(3))
	ratioRounds("BenchmarkSubmit/accounting_off", "ns/metric", "BenchmarkSubmitFloor/accounting_off", "ns/metric")
	pair("submit_gauge_new_result_each_run", "the same through Check.Run, a new Result (100,000 Metric values) each run", get("BenchmarkSubmitNewResult/accounting_off", "ns/metric"),
		"python_loop_noop_builtin", "the same floor", submitFloor, "reported", nil)
	ratioRounds("BenchmarkSubmitNewResult/accounting_off", "ns/metric", "BenchmarkSubmitFloor/accounting_off", "ns/metric")
	pair("submit_gauge_per_metric_callback", "baseline: the same check, one cgo callback per metric (tags copied)", callback,
		"python_loop_noop_builtin", "the same floor", submitFloor, "reported", nil)
	pair("submit_cost_beyond_floor", "pyhost's cost per metric beyond the floor", submit-submitFloor,
		"per_metric_callback_cost_beyond_floor", "the per-metric-callback baseline's cost beyond the same floor", callback-submitFloor,
		"≥ 5× smaller (ratio ≤ 0.2)", le(0.2))
	paired(func(i int) float64 {
		f := at("BenchmarkSubmitFloor/accounting_off", "ns/metric", i)
		return (at("BenchmarkSubmit/accounting_off", "ns/metric", i) - f) / (at("BenchmarkSubmitPerMetricCallback/accounting_off", "ns/metric", i) - f)
	}, rounds("BenchmarkSubmit/accounting_off", "BenchmarkSubmitFloor/accounting_off", "BenchmarkSubmitPerMetricCallback/accounting_off"))
	pair("check_run_trivial_1_goroutine", "a full run of a check submitting 1 metric, from Go, 1 goroutine (accounting off)", get("BenchmarkRunTrivial/accounting_off", "ns/op"),
		"c_gilstate_ensure_call_release_1_goroutine", "the call floor above", callFloor, "reported", nil)
	pair("check_run_trivial_8_goroutines", "the same, 8 goroutines, accounting on (ns per run = 1/throughput)", get("BenchmarkRunTrivial8", "ns/op"),
		"c_gilstate_ensure_call_release_8_goroutines", "the call floor above, 8 goroutines", call8Floor, "reported", nil)

	// Accounting (each "off" figure from a process of its own, started with
	// accounting off, in the same round).
	pair("submit_gauge_batched_accounting_on", "submit_gauge_batched with accounting on (the default), in a child process driven in alternation with an accounting-off one (BenchmarkAccountingPaired)", get("BenchmarkAccountingPaired", "submit-on-ns/metric"),
		"submit_gauge_batched", "the same in the accounting-off child, blocks interleaved", get("BenchmarkAccountingPaired", "submit-off-ns/metric"),
		"≤ 1.05×", le(1.05))
	paired(func(i int) float64 { return at("BenchmarkAccountingPaired", "submit-ratio", i) }, rounds("BenchmarkAccountingPaired"))
	pair("check_run_trivial_accounting_on", "check_run_trivial_1_goroutine with accounting on (the default), the same way", get("BenchmarkAccountingPaired", "trivial-on-ns/op"),
		"check_run_trivial_1_goroutine", "the same in the accounting-off child, blocks interleaved", get("BenchmarkAccountingPaired", "trivial-off-ns/op"),
		"≤ 1.05×", le(1.05))
	paired(func(i int) float64 { return at("BenchmarkAccountingPaired", "trivial-ratio", i) }, rounds("BenchmarkAccountingPaired"))
	allocOn, allocOff := get("BenchmarkAllocate", "ns/allocation"), get("BenchmarkAllocate/accounting_off", "ns/allocation")
	pair("python_allocation_accounting_on", "a Python loop making and dropping a 64-byte bytes object (one allocation and one free), accounting on, per iteration", allocOn,
		"python_allocation", "the same, accounting off (CPython's own allocator)", allocOff,
		"reported", nil)
	ratioRounds("BenchmarkAllocate", "ns/allocation", "BenchmarkAllocate/accounting_off", "ns/allocation")
	pair("allocator_hook_per_allocation", "what the accounting allocator adds per allocation and free (the difference of the two rows above)", allocOn-allocOff,
		"python_allocation", "the plain loop, per iteration", allocOff,
		"reported", nil)
	pair("datadog_check_10k_gauges", "a datadog_checks.base check submitting 10,000 gauges (2 tags), run from Go, per run", get("BenchmarkDatadogCheck10k", "ns/run"),
		"datadog_stub_aggregator_plain_python", "the same check run in plain Python against datadog_checks_base's stub aggregator (median of 50 runs)", get("BenchmarkDatadogCheck10kFloor", "ns/run"),
		"≤ 1.2×", le(1.2))

	scrapeFloor := get("BenchmarkScrape100kFloor", "ns/op")
	pair("metrics_scrape_100k_series", "GET /metrics of 100,000 check series (1,000 instances × 100 gauges, 2 tags) through client_golang", get("BenchmarkScrape100k", "ns/op"),
		"client_golang_gaugevec_100k_series", "the same 100,000 series held in plain client_golang GaugeVecs, same handler", scrapeFloor,
		"reported", nil)

	const oneCore = 1e9 // ns of CPU per second of wall clock
	pair("agent_1000_checks_overhead_cpu", "1,000 instances of a trivial check at a 1 s interval: agent CPU beyond the checks' own Python time, ns per second", get("BenchmarkAgent1000Checks", "overhead-cpu-ns/s"),
		"one_core", "one CPU core (1e9 ns per second)", oneCore,
		"≤ 2% of one core at 1,000 runs/s (ratio ≤ 0.02)", le(0.02))
	pair("agent_1000_checks_python_cpu", "the checks' own Python time (inside check()), ns per second", get("BenchmarkAgent1000Checks", "checks-cpu-ns/s"),
		"one_core", "one CPU core (1e9 ns per second)", oneCore, "reported", nil)

	// How the agent's cost grows (internal/agent, BenchmarkAgentScaling:
	// each point an agent in a child process).
	scaling := func(series string, n int, unit string) float64 {
		return get(fmt.Sprintf("BenchmarkAgentScaling/%s/instances=%d", series, n), unit)
	}
	pair("agent_scaling_overhead_per_run_fixed_rate", "agent CPU beyond the checks' own per run, 50,000 instances at a 50 s interval (~1,000 runs/s)", scaling("fixed_rate", 50000, "overhead-ns/run"),
		"agent_overhead_per_run_1000_instances", "the same with 1,000 instances at 1 s (~1,000 runs/s)", scaling("fixed_rate", 1000, "overhead-ns/run"),
		"≤ 1.25 (the cost follows runs per second, not instances)", le(1.25))
	pair("agent_scaling_overhead_per_run_fixed_interval", "agent CPU beyond the checks' own per run, 50,000 instances at 15 s (~3,300 runs/s)", scaling("fixed_interval", 50000, "overhead-ns/run"),
		"agent_overhead_per_run_10000_instances_15s", "the same with 10,000 instances at 15 s (~670 runs/s)", scaling("fixed_interval", 10000, "overhead-ns/run"),
		"≤ 1.25 (linear in runs per second)", le(1.25))
	const fourKiB = 4096
	pair("agent_rss_per_idle_instance", "resident memory per instance, from 1,000 to 50,000 instances at 15 s (the growth over the 49,000 added)", scaling("fixed_interval", 50000, "rss-bytes/instance"),
		"four_kib", "4 KiB", fourKiB, "≤ 4 KiB (ratio ≤ 1)", le(1))

	// Both ways across the bridge.
	pair("python_to_go_call_noop", "Python → Go: a Python loop calling a Go no-op defined with DefineModule (the GIL released while Go runs), per call; interleaved with the floor in blocks of 10,000 calls", get("BenchmarkPythonToGoNoopPaired", "ns/call"),
		"c_extension_to_go_noop", "the same loop calling a hand-written C extension function (METH_NOARGS) that calls a cgo-exported Go no-op, releasing the GIL around it (Py_BEGIN/END_ALLOW_THREADS) as a Go function that may block needs", get("BenchmarkPythonToGoNoopPaired", "floor-ns/call"),
		"≤ 1.3×", le(1.3))
	paired(func(i int) float64 { return at("BenchmarkPythonToGoNoopPaired", "ratio", i) }, rounds("BenchmarkPythonToGoNoopPaired"))
	pair("python_to_go_call_noop_separate", "the same, measured as two separate benchmarks seconds apart", get("BenchmarkPythonToGoNoop", "ns/op"),
		"c_extension_to_go_noop_separate", "the C extension as its own benchmark", get("BenchmarkPythonToGoNoopFloor", "ns/op"),
		"reported", nil)
	ratioRounds("BenchmarkPythonToGoNoop", "ns/op", "BenchmarkPythonToGoNoopFloor", "ns/op")
	pair("python_to_go_call_noop_vs_gil_held", "the same, against a C extension that holds the GIL while Go runs (so other threads' Python waits for Go)", get("BenchmarkPythonToGoNoop", "ns/op"),
		"c_extension_to_go_noop_gil_held", "the C extension calling Go with the GIL held", get("BenchmarkPythonToGoNoopFloorGILHeld", "ns/op"),
		"reported", nil)
	ratioRounds("BenchmarkPythonToGoNoop", "ns/op", "BenchmarkPythonToGoNoopFloorGILHeld", "ns/op")
	pair("c_extension_gil_release_cost", "the GIL hand-over alone: the C extension releasing the GIL", get("BenchmarkPythonToGoNoopFloor", "ns/op"),
		"c_extension_to_go_noop_gil_held", "the C extension holding it", get("BenchmarkPythonToGoNoopFloorGILHeld", "ns/op"),
		"reported", nil)
	ratioRounds("BenchmarkPythonToGoNoopFloor", "ns/op", "BenchmarkPythonToGoNoopFloorGILHeld", "ns/op")
	pair("call_typed_add_1_goroutine", "Go → Python typed: Function.Invoke(2, 3) of def add(a, b): return a + b, 1 goroutine (interleaved with its floor in blocks of 10,000 calls)", get("BenchmarkInvokeAddPaired", "ns/call"),
		"c_binding_add", "cgo → C: PyGILState_Ensure, two PyLong_FromLongLong, the call, PyLong_AsLongLong, Release, thread state kept", get("BenchmarkInvokeAddPaired", "floor-ns/call"),
		"≤ 1.5×", le(1.5))
	paired(func(i int) float64 { return at("BenchmarkInvokeAddPaired", "ratio", i) }, rounds("BenchmarkInvokeAddPaired"))
	pair("call_typed_add_1_goroutine_separate", "the same, measured as two separate benchmarks seconds apart", get("BenchmarkInvokeAdd", "ns/op"),
		"c_binding_add_separate", "the C binding as its own benchmark", get("BenchmarkInvokeAddFloor", "ns/op"),
		"reported", nil)
	ratioRounds("BenchmarkInvokeAdd", "ns/op", "BenchmarkInvokeAddFloor", "ns/op")
	pair("call_typed_add_8_goroutines", "the same, 8 goroutines (ns per call = 1/throughput)", get("BenchmarkInvokeAdd8", "ns/op"),
		"c_binding_add_8_goroutines", "the C binding, 8 goroutines", get("BenchmarkInvokeAdd8Floor", "ns/op"),
		"reported", nil)
	ratioRounds("BenchmarkInvokeAdd8", "ns/op", "BenchmarkInvokeAdd8Floor", "ns/op")
	pair("call_typed_add_while_go_blocks", "Invoke(2, 3) while another goroutine's Python call sits in a Go function blocked for the whole measurement (≥ 1 s)", get("BenchmarkInvokeAddWhileGoBlocks", "ns/op"),
		"call_typed_add_1_goroutine", "the same calls with nothing blocked", get("BenchmarkInvokeAdd", "ns/op"),
		"reported (≈ 1: the GIL is released while Go runs)", nil)
	ratioRounds("BenchmarkInvokeAddWhileGoBlocks", "ns/op", "BenchmarkInvokeAdd", "ns/op")
	pair("host_state_get_10k", "pyhost.host.get() of a 10,000-entry dict of small records, republished from Go before each get (timed in Python around the get; each get paired with its floor)", get("BenchmarkHostStateGet10kPaired", "ns/get"),
		"json_loads_10k", "json.loads of the same records as JSON text in the embedded Python, timed the same way", get("BenchmarkHostStateGet10kPaired", "floor-ns/get"),
		"≤ 0.5×", le(0.5))
	paired(func(i int) float64 { return at("BenchmarkHostStateGet10kPaired", "ratio", i) }, rounds("BenchmarkHostStateGet10kPaired"))
	pair("host_state_get_10k_separate", "the same, measured as two separate benchmarks seconds apart", get("BenchmarkHostStateGet10k", "ns/get"),
		"json_loads_10k_separate", "the floor as its own benchmark", get("BenchmarkHostStateGet10kFloor", "ns/get"),
		"reported", nil)
	ratioRounds("BenchmarkHostStateGet10k", "ns/get", "BenchmarkHostStateGet10kFloor", "ns/get")
	pair("host_state_get_unchanged", "pyhost.host.get() of an unchanged value, per get in a Python loop", get("BenchmarkHostStateGetUnchanged", "ns/get"),
		"python_dict_get", "dict.get of a present key, the same loop", get("BenchmarkHostStateGetUnchangedFloor", "ns/get"),
		"reported (about a dict lookup)", nil)
	ratioRounds("BenchmarkHostStateGetUnchanged", "ns/get", "BenchmarkHostStateGetUnchangedFloor", "ns/get")

	// Hooks (root package; the glupy workload in examples/glupy).
	pair("glupy_include_workload_cached", "glupy's PHP-include workload (1,000 lookups, 10 include directories, 80% to 10% of the files) with the Python negative-lookup cache as hooks, from empty; per workload", get("BenchmarkGlupyIncludeWorkloadCached", "ns/op"),
		"glupy_include_workload_vanilla", "the same workload with no hook", get("BenchmarkGlupyIncludeWorkloadVanilla", "ns/op"),
		"≤ 0.256 (≥ 3.9× faster, glupy's figure)", le(0.256))
	ratioRounds("BenchmarkGlupyIncludeWorkloadCached", "ns/op", "BenchmarkGlupyIncludeWorkloadVanilla", "ns/op")
	hookNoop := get("BenchmarkHookDispatchNoop", "ns/op")
	pair("hook_dispatch_noop_1_goroutine", "HookPoint.Call of a request (a short str) with a dispatch hook that passes, per call, 1 goroutine, metered (accounting on); interleaved with the floor in blocks of 10,000 calls", get("BenchmarkHookDispatchPaired", "ns/call"),
		"c_gilstate_ensure_call_release_1_goroutine", "the call floor (a no-argument no-op through C)", get("BenchmarkHookDispatchPaired", "floor-ns/call"),
		"≤ 1.3×", le(1.3))
	paired(func(i int) float64 { return at("BenchmarkHookDispatchPaired", "ratio", i) }, rounds("BenchmarkHookDispatchPaired"))
	// Where a hook call's time goes beyond the floor: the typed call it
	// makes, the hook point around it, the meter.
	pair("invoke_one_str_1_goroutine", "Function.Invoke(\"index.php\") of the same hook function, unmetered: the typed call a hook call makes, without the hook point and the meter; interleaved", get("BenchmarkInvokeStrPaired", "ns/call"),
		"c_gilstate_ensure_call_release_1_goroutine", "the call floor", get("BenchmarkInvokeStrPaired", "floor-ns/call"),
		"reported", nil)
	paired(func(i int) float64 { return at("BenchmarkInvokeStrPaired", "ratio", i) }, rounds("BenchmarkInvokeStrPaired"))
	pair("invoke_one_long_str_1_goroutine", "the same with a 40-byte path, too long to share: each call makes its str; interleaved", get("BenchmarkInvokeLongStrPaired", "ns/call"),
		"c_gilstate_ensure_call_release_1_goroutine", "the call floor", get("BenchmarkInvokeLongStrPaired", "floor-ns/call"),
		"reported", nil)
	paired(func(i int) float64 { return at("BenchmarkInvokeLongStrPaired", "ratio", i) }, rounds("BenchmarkInvokeLongStrPaired"))
	pair("hook_dispatch_noop_1_goroutine_unmetered", "the hook call with its meter taken off (Function.SetMeter(nil)), accounting otherwise on, same process; interleaved", get("BenchmarkHookDispatchUnmeteredPaired", "ns/call"),
		"c_gilstate_ensure_call_release_1_goroutine", "the call floor", get("BenchmarkHookDispatchUnmeteredPaired", "floor-ns/call"),
		"reported", nil)
	paired(func(i int) float64 { return at("BenchmarkHookDispatchUnmeteredPaired", "ratio", i) }, rounds("BenchmarkHookDispatchUnmeteredPaired"))
	pair("hook_dispatch_noop_1_goroutine_accounting_off", "the hook call with accounting off (no meter), in a process of its own; interleaved with the floor measured there", get("BenchmarkHookDispatchPaired/accounting_off", "ns/call"),
		"c_gilstate_ensure_call_release_1_goroutine_accounting_off", "the call floor, in that process", get("BenchmarkHookDispatchPaired/accounting_off", "floor-ns/call"),
		"reported", nil)
	paired(func(i int) float64 { return at("BenchmarkHookDispatchPaired/accounting_off", "ratio", i) }, rounds("BenchmarkHookDispatchPaired/accounting_off"))
	pair("hook_dispatch_noop_1_goroutine_separate", "the same, measured as two separate benchmarks seconds apart", hookNoop,
		"c_gilstate_ensure_call_release_1_goroutine_separate", "the floor as its own benchmark", callFloor,
		"reported", nil)
	ratioRounds("BenchmarkHookDispatchNoop", "ns/op", "BenchmarkCallFloor", "ns/op")
	pair("hook_passthrough_no_hook", "HookPoint.Call with no hook installed, per call", get("BenchmarkHookPassthrough", "ns/op"),
		"c_gilstate_ensure_call_release_1_goroutine", "the call floor", callFloor,
		"≤ 0.05×", le(0.05))
	ratioRounds("BenchmarkHookPassthrough", "ns/op", "BenchmarkCallFloor", "ns/op")
	pair("hook_dispatch_noop_8_goroutines", "the dispatch hook that passes, 8 goroutines (ns per call = 1/throughput)", get("BenchmarkHookDispatchNoop8", "ns/op"),
		"c_gilstate_ensure_call_release_8_goroutines", "the C floor, 8 goroutines", call8Floor, "reported", nil)
	pair("hook_overhead_share_of_a_lookup_probe", "the dispatch hook's cost per call, against one simulated lookup probe of the glupy workload", hookNoop,
		"glupy_lookup_probe", "one probe: a stat plus the simulated round trip", get("BenchmarkGlupyIncludeWorkloadVanilla", "probe-ns"), "reported", nil)

	// Modules (package modules; the HTTP round trip in internal/agent).
	pubP99 := get("BenchmarkPublish10ModulesOneStuck", "p99-ns")
	pair("module_publish_10_subscribers_one_stuck_p99", "the publisher's Publish, p99, with 10 modules notified of the name, one stuck in notify()", pubP99,
		"publish_no_subscribers_p99", "the same Publish with no module, p99", get("BenchmarkPublish10ModulesOneStuckFloor", "p99-ns"),
		"p99 ≤ 5 µs", func(float64) bool { return pubP99 <= 5000 })
	pair("module_publish_10_subscribers_one_stuck_p50", "the same, p50", get("BenchmarkPublish10ModulesOneStuck", "p50-ns"),
		"publish_no_subscribers_p50", "the same Publish with no module, p50", get("BenchmarkPublish10ModulesOneStuckFloor", "p50-ns"), "reported", nil)
	pair("module_publish_to_notify_p50", "Publish → the module's notify() reading the value, p50", get("BenchmarkPublishToNotify", "p50-ns"),
		"invoke_python_calling_go_p50", "the crossings alone: Go → Python → Go, on one thread, p50", get("BenchmarkPublishToNotifyFloor", "p50-ns"), "reported", nil)
	pair("module_publish_to_notify_p99", "the same, p99", get("BenchmarkPublishToNotify", "p99-ns"),
		"invoke_python_calling_go_p99", "the crossings alone, p99", get("BenchmarkPublishToNotifyFloor", "p99-ns"), "reported", nil)
	pair("module_command_from_go", "a module command called from Go (Module.Command: arguments typed from the hints)", get("BenchmarkCommand", "ns/op"),
		"c_gilstate_ensure_call_release_1_goroutine_separate", "the call floor, for scale", callFloor, "reported", nil)
	pair("module_command_http_p50", "POST /api/modules/M/commands/C round trip (token, typed arguments, JSON answer), p50", get("BenchmarkModuleCommandHTTP", "p50-ns"),
		"http_post_go_handler_p50", "the same POST to a Go handler answering without Python, p50", get("BenchmarkModuleCommandHTTPFloor", "p50-ns"), "reported", nil)
	pair("module_command_http_p99", "the same, p99", get("BenchmarkModuleCommandHTTP", "p99-ns"),
		"http_post_go_handler_p99", "the Go handler, p99", get("BenchmarkModuleCommandHTTPFloor", "p99-ns"), "reported", nil)

	cmp, err := readCompare(*compareIn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if cmp != nil {
		for _, r := range cmp.Results {
			met := r.Met
			results = append(results, result{Name: r.Name, NsPerOp: r.NsPerOp, FloorName: r.FloorName, FloorNsPerOp: r.FloorNsPerOp, Ratio: r.Ratio,
				what: r.What, floorIs: r.Floor, goal: r.Goal, met: &met})
		}
	}

	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Benchmarks\n\nGenerated by `%s` on %s (%s, %d cores visible, %s). Each figure is the median of %d rounds; a round runs every benchmark once, so a subject and its floor are measured seconds apart. Every ratio is against a floor measured in the same run: for the call and submission rows it is the median of the per-round ratios (so it need not equal the ratio of the two medians shown), for the others the ratio of the medians (these machines are shared and noisy, so absolute numbers move between runs and ratios move less).\n\n",
		*command, time.Now().UTC().Format("2006-01-02"), cpu, runtime.NumCPU(), runtime.Version(), reps("BenchmarkCall"))
	md.WriteString("| benchmark | ns | floor | floor ns | ratio | goal | met |\n|---|---:|---|---:|---:|---|---|\n")
	for _, r := range results {
		met := "–"
		if r.met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*r.met]
		}
		fmt.Fprintf(&md, "| %s<br>*%s* | %.1f | %s<br>*%s* | %.1f | %.3g | %s | %s |\n", r.Name, r.what, r.NsPerOp, r.FloorName, r.floorIs, r.FloorNsPerOp, r.Ratio, r.goal, met)
	}
	addedNs(&md, results, "call_noop_1_goroutine", "call_typed_add_1_goroutine", "python_to_go_call_noop", "hook_dispatch_noop_1_goroutine")
	if per := optional("BenchmarkMemoryPerCheck", "bytes/check"); per > 0 {
		fmt.Fprintf(&md, "\nResident memory per loaded check instance (1,000 instances of a trivial check, each run once): **%.0f bytes** (%.1f KiB).\n", per, per/1024)
	}
	if size := optional("BenchmarkScrape100k", "bytes/scrape"); size > 0 {
		fmt.Fprintf(&md, "\n`/metrics` with 100,000 series: **%.1f MB** per scrape, in %.0f ms (floor %.0f ms).\n", size/1e6, get("BenchmarkScrape100k", "ns/op")/1e6, scrapeFloor/1e6)
	}
	if rss := optional("BenchmarkAgent1000Checks", "rss-bytes"); rss > 0 {
		fmt.Fprintf(&md, "\nAgent with 1,000 check instances at a 1 s interval: resident set **%.1f MiB** (the whole process: Go runtime, embedded Python, 1,000 instances), %.0f runs/s, %.0f skipped runs over the %s window.\n",
			rss/(1<<20), get("BenchmarkAgent1000Checks", "runs/s"), get("BenchmarkAgent1000Checks", "skipped"), "10 s")
	}
	if cmp != nil {
		cmp.docs = filepath.Dir(*mdOut)
		cmp.markdown(&md)
	}
	md.WriteString(notes)
	if *mdOut != "" {
		if err := os.WriteFile(*mdOut, []byte(md.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Print(md.String())
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "benchreport: %d measurements missing from %s (their rows show 0): %s\n", len(missing), *in, strings.Join(missing, ", "))
		os.Exit(1)
	}
}

// addedNs says what pyhost adds to each named call row, in nanoseconds
// over its floor: what a reader compares across hosts, whose floors differ.
func addedNs(md *strings.Builder, results []result, names ...string) {
	var added []string
	for _, name := range names {
		for _, r := range results {
			if r.Name == name {
				added = append(added, fmt.Sprintf("`%s` %.0f ns more than its floor (%.0f ns)", name, r.NsPerOp-r.FloorNsPerOp, r.FloorNsPerOp))
			}
		}
	}
	if len(added) == 0 {
		return
	}
	fmt.Fprintf(md, "\n**What pyhost adds to a call, in nanoseconds.** A call's goal is a ratio to a C floor measured in the same run; what pyhost adds to the call does not shrink in proportion when the floor is faster (much of it is fixed work beside the floor's: the layers, the handle lookup, the gate), so the same code shows a higher ratio on a host whose floor is faster. In this run: %s.\n", strings.Join(added, "; "))
}

const notes = `
## What is measured

- **Calls** (` + "`BenchmarkCall*`" + `): ` + "`Function.AppendCall`" + ` of a Python ` + "`def noop(): pass`" + ` through the whole stack (Go API → cgo → C API → engine → Python). At 1 goroutine the goal row comes from ` + "`BenchmarkCallPaired`" + `, which alternates blocks of 10,000 calls of the floor and of pyhost and takes the median of the per-block ratios: measured as separate benchmarks seconds apart (the ` + "`_separate`" + ` row), the ratio of a 100 ns call moves with whatever else the shared machine did in between, far more from round to round. The floor (` + "`internal/benchfloor`" + `) is what a hand-written C binding costs: a cgo call into C doing ` + "`PyGILState_Ensure`" + `, ` + "`PyObject_CallNoArgs`" + ` on the same function and ` + "`PyGILState_Release`" + `, on a thread that keeps its thread state. At 8 goroutines only one thread runs Python at a time: the floor's callers wait for the GIL inside cgo (a futex wait, then a wake-up, per hand-over), while pyhost's wait in Go's scheduler at the call gate (` + "`internal/gate`" + `), which engages once the engine has counted a call that found the GIL held (a lone goroutine's calls pass it without an atomic read-modify-write).
- **Submissions** (` + "`BenchmarkSubmit*`" + `): a check calls ` + "`self.gauge(name, value, tags)`" + ` 100,000 times; the run's batch is decoded into Go ` + "`Metric`" + ` values and every one is checked to have arrived. ` + "`BenchmarkSubmit`" + ` decodes into a ` + "`Result`" + ` reused from run to run (` + "`Check.RunInto`" + `, what a scheduler does); ` + "`BenchmarkSubmitNewResult`" + ` uses ` + "`Check.Run`" + `, which allocates 100,000 new ` + "`Metric`" + ` values per run. The floor runs the same loop in Python against ` + "`_pyhost.noop`" + `, a builtin that does nothing. The baseline delivers each metric to Go through its own cgo callback with its tags copied, as the Datadog Agent does.
- **Check runs** (` + "`BenchmarkRunTrivial*`" + `): ` + "`Check.Run`" + ` of a check submitting one gauge, including the ` + "`Result`" + ` decoding; reported against the call floor for scale.
- **Accounting** (` + "`internal/accountingbench`, `BenchmarkAccountingPaired`; `BenchmarkAllocate`" + `; the ` + "`/accounting_off`" + ` results): accounting is on by default, and whether Python memory is counted is decided when the interpreter starts, so on and off cannot share a process. ` + "`BenchmarkAccountingPaired`" + ` drives two child processes of the test binary, one started with accounting on and one off, in alternating blocks (one 100,000-gauge run; 2,000 trivial runs) and reports the median of the per-block-pair ratios: measured as separate processes seconds apart, the shared machine moved the ratio of the same code by ±50%. The submission rows above and ` + "`check_run_trivial_1_goroutine`" + ` come from a process of their own started with ` + "`-accounting=off`" + ` in each round (results named ` + "`BenchmarkX/accounting_off`" + `). ` + "`BenchmarkAllocate`" + ` is a Python loop of ` + "`b\"x\" * 64`" + `, one allocation and one free per iteration, in the main process (on) and the accounting-off one: the difference is the allocator hook's cost per allocation.
- **Memory** (` + "`BenchmarkMemoryPerCheck`" + `): growth of the process's resident set over 1,000 check instances.
- **Datadog check** (` + "`BenchmarkDatadogCheck10k*`" + `): an unmodified ` + "`datadog_checks.base.AgentCheck`" + ` subclass calling ` + "`self.gauge`" + ` 10,000 times, run through ` + "`Check.Run`" + ` (its submissions go through the ` + "`aggregator`" + ` builtin into the batch and are decoded in Go). The floor is the same check in a plain Python process against ` + "`datadog_checks_base`" + `'s stub aggregator, the way check authors test it.
- **Scrape** (` + "`internal/agent/aggregate`, `BenchmarkScrape100k*`" + `): the agent's aggregator holding 100,000 flushed gauges, served by ` + "`promhttp.HandlerFor`" + ` into a recorder; the floor is the same series as plain client_golang ` + "`GaugeVec`" + `s behind the same handler.
- **Agent overhead** (` + "`internal/agent`, `BenchmarkAgent1000Checks`" + `): the real agent (scheduler, runners, aggregation, HTTP server idle) runs 1,000 instances of a check submitting one gauge, at a 1 s interval, for 10 s after a warm-up. The process's CPU time (getrusage) minus the CPU time spent inside the checks' ` + "`check()`" + ` (each check times itself with ` + "`time.thread_time_ns`" + `) is the agent's overhead; it is compared with one core.
- **Agent scaling** (` + "`internal/agent`, `BenchmarkAgentScaling`" + `): the same agent and check with 1,000, 10,000 and 50,000 instances, each point an agent in a child process of the test binary (so that each resident set is its own): at 1 s, 10 s and 50 s (about 1,000 runs a second each) and at 15 s (the Datadog Agent's default: about 67, 670 and 3,300 runs a second). Each is measured over whole intervals (at least 10 s) after every instance has run once, three times (the points in turn, so that each point's three fall minutes apart), and each figure's median kept. The memory per instance is the growth of the resident set from the 1,000-instance point of the same series, over the instances added. The trivial check times itself with ` + "`time.thread_time_ns`" + `, two system calls a run that count partly as the agent's.
- **Typed calls** (` + "`BenchmarkInvokeAdd*`" + `): ` + "`Function.Invoke(2, 3)`" + ` of ` + "`def add(a, b): return a + b`" + `, whose two ints cross in place (` + "`pyhost_function_invoke_direct`" + `) and whose result comes back in place. At 1 goroutine the goal row comes from ` + "`BenchmarkInvokeAddPaired`" + `, interleaved with its floor as ` + "`BenchmarkCallPaired`" + ` is.
- **Python → Go** (` + "`BenchmarkPythonToGoNoop*`" + `): a Python loop in the embedded interpreter calls ` + "`benchgo.noop()`" + `, a Go ` + "`func() {}`" + ` defined with ` + "`Runtime.DefineModule`" + `. The floor is the same loop calling a hand-written C extension function (METH_NOARGS) that calls a cgo-exported Go no-op between ` + "`PyEval_SaveThread`" + ` and ` + "`PyEval_RestoreThread`" + ` (` + "`Py_BEGIN/END_ALLOW_THREADS`" + `): like DefineModule's functions, it lets other threads run Python while Go runs, which a Go function that may block needs. The goal row alternates blocks of 10,000 calls of each, as the call rows do. The same C extension holding the GIL is reported beside it (` + "`_gil_held`" + `): the hand-over alone adds about two thirds to its call (` + "`c_extension_gil_release_cost`" + `).
- **Hooks** (` + "`BenchmarkHook*`" + `; ` + "`examples/glupy`, `BenchmarkGlupyIncludeWorkload*`" + `): a hook point's ` + "`Call`" + ` with a request ` + "`\"index.php\"`" + ` and an operation that does nothing, with a dispatch hook ` + "`def hook_pass(req): return None`" + ` or with no hook. The runtime has accounting on (the default), so each hook call is metered under the point's meter. At 1 goroutine the goal row comes from ` + "`BenchmarkHookDispatchPaired`" + `, interleaved with the call floor as ` + "`BenchmarkCallPaired`" + ` is. Three reported rows say where its time goes: ` + "`invoke_one_str_1_goroutine`" + ` (` + "`BenchmarkInvokeStrPaired`" + `) is the typed call a hook call makes, ` + "`Invoke(\"index.php\")`" + ` of the same function, without the hook point and the meter (a str that short is made once and shared; ` + "`invoke_one_long_str_1_goroutine`" + ` passes a 40-byte path instead, a new str on each call), ` + "`hook_dispatch_noop_1_goroutine_unmetered`" + ` (` + "`BenchmarkHookDispatchUnmeteredPaired`" + `) is the hook call with its meter taken off in the same process, and ` + "`hook_dispatch_noop_1_goroutine_accounting_off`" + ` is the hook call itself in the accounting-off process, without its meter. The glupy workload is the demo's (` + "`make demo-glupy`" + `): 1,000 lookups of 50 files over 10 include directories, each probe a stat plus a 50 µs simulated round trip; cached runs start from an empty cache.
- **Modules** (` + "`modules`, `BenchmarkPublish*`, `BenchmarkCommand`; `internal/agent`, `BenchmarkModuleCommandHTTP*`" + `): the publisher's cost is ` + "`Runtime.Publish`" + ` of a two-key dict while ten modules list its name in ` + "`NOTIFY_TYPES`" + `, one of them blocked in ` + "`notify()`" + ` for the whole benchmark (its backlog coalesces to one entry); the floor is the same Publish with no module. Publish → notify is the time from Publish to the module's ` + "`notify()`" + ` having read the value (it hands it to a Go function); it includes waking the module's notification thread, which waits in Go with the GIL released. The command round trip is a real agent's ` + "`POST /api/modules/echo/commands/ping`" + ` over a kept-alive connection; the floor is the same request to a Go handler with no Python.

Raw output: ` + "`target/bench/raw.txt`" + `; machine-readable results: ` + "`target/bench/results.json`" + ` (` + "`ratio`" + ` as in the table: the median of the per-round ratios for the call and submission rows, else ns / floor ns).
`
