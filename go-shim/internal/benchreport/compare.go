package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// compareReport is what bench/compare writes (compare.json): the same
// workloads done three ways, and its goal rows.
type compareReport struct {
	Machine struct {
		Cores  int    `json:"cores"`
		CPU    string `json:"cpu"`
		Python string `json:"python"`
		Go     string `json:"go"`
		Rust   string `json:"rust"`
		Date   string `json:"date"`
	} `json:"machine"`
	Reps      int `json:"reps"`
	Workloads []struct {
		Name  string `json:"name"`
		Title string `json:"title"`
		Unit  string `json:"unit"`
	} `json:"workloads"`
	Samples []struct {
		Workload  string  `json:"workload"`
		Way       string  `json:"way"`
		Callers   int     `json:"callers"`
		NsPerOp   float64 `json:"ns_per_op"`
		LatencyNs float64 `json:"latency_ns"`
	} `json:"samples"`
	// docs is the directory of the report being written (for the plots).
	docs    string
	Results []struct {
		Name         string  `json:"name"`
		NsPerOp      float64 `json:"ns_per_op"`
		FloorName    string  `json:"floor_name"`
		FloorNsPerOp float64 `json:"floor_ns_per_op"`
		Ratio        float64 `json:"ratio"`
		What         string  `json:"what"`
		Floor        string  `json:"floor"`
		Goal         string  `json:"goal"`
		Met          bool    `json:"met"`
	} `json:"results"`
}

// readCompare reads compare.json; no path, or no file, is no comparison.
func readCompare(path string) (*compareReport, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r compareReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// human is a duration in ns, in the unit that reads best.
func human(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.3g s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.3g ns", ns)
}

// markdown writes the comparison's section of docs/benchmarks.md: the
// machine, the plots (docs/compare/, drawn by bench/compare/plot.py) and
// every figure.
func (r *compareReport) markdown(md *strings.Builder) {
	m := r.Machine
	fmt.Fprintf(md, "\n## Three ways compared\n\n`make bench-compare` (also run by `make bench`, program in `bench/compare/`) does the same workloads as a Go function, through pyhost (a Python function or check, in-process) and in a Python worker process over a Unix socket speaking msgpack (one connection and one worker thread per caller), with the same inputs, each figure the median of %d repetitions with the three ways taking turns. Measured on %s: %d cores, %s; Python %s, %s, %s.\n\n", r.Reps, m.Date, m.Cores, m.CPU, m.Python, m.Go, m.Rust)
	md.WriteString("![every workload at 1 caller](compare/overview.png)\n\n")
	if _, err := os.Stat(filepath.Join(r.docs, "compare", "agent-scaling.png")); err == nil {
		md.WriteString("### How the agent's cost grows\n\n![agent CPU and memory against instances](compare/agent-scaling.png)\n\n" +
			"`BenchmarkAgentScaling` (`internal/agent`) runs the agent with 1,000, 10,000 and 50,000 instances of a trivial check, each point in a process of its own: at intervals chosen for about 1,000 runs a second (1 s, 10 s, 50 s) and at the Datadog Agent's default 15 s. Each is measured over whole intervals after every instance has run once. Left: the agent's CPU beyond the checks' own Python time, against runs per second. Right: resident memory per instance, the growth from 1,000 instances over the instances added. The rows `agent_scaling_*` and `agent_rss_per_idle_instance` in the table above come from it.\n\n")
	}
	for _, w := range r.Workloads {
		fmt.Fprintf(md, "### %s\n\n![%s](compare/%s.png)\n\n| callers | Go | pyhost | RPC worker | RPC / pyhost |\n|---:|---:|---:|---:|---:|\n", w.Title, w.Title, w.Name)
		byCallers := map[int]map[string]float64{}
		var order []int
		for _, s := range r.Samples {
			if s.Workload != w.Name {
				continue
			}
			if byCallers[s.Callers] == nil {
				byCallers[s.Callers] = map[string]float64{}
				order = append(order, s.Callers)
			}
			byCallers[s.Callers][s.Way] = s.LatencyNs
		}
		for _, c := range order {
			v := byCallers[c]
			ratio := "–"
			if v["pyhost"] > 0 {
				ratio = fmt.Sprintf("%.3g×", v["rpc"]/v["pyhost"])
			}
			fmt.Fprintf(md, "| %d | %s | %s | %s | %s |\n", c, human(v["go"]), human(v["pyhost"]), human(v["rpc"]), ratio)
		}
		fmt.Fprintf(md, "\nTime one caller waits per %s (with several callers, they wait at once: throughput is callers over it).\n\n", w.Unit)
	}
}
