package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyhost.dev/pyhost/internal/agent/config"
)

const leakingCheck = `
from pyhost import AgentCheck

class Leaks(AgentCheck):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kept = []

    def check(self, instance):
        self.kept.append(bytearray(1 << 20))
        self.gauge("accounting_test.kept", len(self.kept))
`

const steadyCheck = `
from pyhost import AgentCheck

class Steady(AgentCheck):
    def check(self, instance):
        scratch = [str(i) for i in range(1000)]
        self.gauge("accounting_test.steady", len(scratch))
`

const burningCheck = `
import time
from pyhost import AgentCheck

class Burns(AgentCheck):
    def check(self, instance):
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:
            sum(range(1000))
`

// metricValue is the value of one exposed sample, by name and check.
func metricValue(t *testing.T, body, name, check string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + name + `\{check="` + check + `",check_id="[^"]+"\} (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s for %s in /metrics", name, check)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAgentSaysWhichCheckCostsTheMost(t *testing.T) {
	var steadyConf strings.Builder
	steadyConf.WriteString("instances:\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&steadyConf, "  - {n: %d, min_collection_interval: 0.1}\n", i)
	}
	cfg := layout(t,
		map[string]string{"leaking": leakingCheck, "steady": steadyCheck, "burning": burningCheck},
		map[string]string{
			"leaking.yaml": "instances:\n  - min_collection_interval: 0.1\n",
			"steady.yaml":  steadyConf.String(),
			"burning.yaml": "instances:\n  - min_collection_interval: 0.1\n",
		})
	a, _ := startAgent(t, cfg)
	// Memory kept grows with the leaking check's runs; look once it has run
	// a few times.
	st := waitFor(t, a, "runs of every check", func(st Status) bool {
		if l := instance(st, "leaking"); l == nil || l.Runs < 4 || l.Cost.RetainedBytes < 4<<20 {
			return false
		}
		for _, c := range st.Instances {
			if c.Runs < 2 {
				return false
			}
		}
		return true
	})
	if !st.Accounting {
		t.Fatal("accounting is on by default")
	}
	leak := instance(st, "leaking")
	perRun := float64(leak.Cost.RetainedBytes) / float64(leak.Runs)
	if perRun < 0.9*(1<<20) || perRun > 1.2*(1<<20) {
		t.Errorf("leaking check keeps %.0f bytes per run, want about 1 MiB: %+v", perRun, leak.Cost)
	}
	for _, c := range st.Instances {
		if c.Check == "steady" && c.Cost.RetainedBytes > 64<<10 {
			t.Errorf("steady check %s keeps %d bytes", c.CheckID, c.Cost.RetainedBytes)
		}
		if c.Check == "steady" && c.Cost.AllocatedBytes == 0 {
			t.Errorf("steady check %s: nothing allocated counted", c.CheckID)
		}
	}
	burn := instance(st, "burning")
	if burn.Cost.CPUSeconds < burn.Cost.WallSeconds/4 || burn.Cost.CPUSeconds <= 0 {
		t.Errorf("burning check: %+v", burn.Cost)
	}

	// "Which check keeps the most memory": /status sorted by it.
	code, body := get(t, a, "/status?sort=retained")
	var sorted Status
	if err := json.Unmarshal([]byte(body), &sorted); code != 200 || err != nil {
		t.Fatalf("/status?sort=retained: %d %v", code, err)
	}
	if sorted.Instances[0].Check != "leaking" {
		t.Errorf("sorted by retained memory, first is %s", sorted.Instances[0].CheckID)
	}
	code, body = get(t, a, "/status?sort=cpu")
	if err := json.Unmarshal([]byte(body), &sorted); code != 200 || err != nil {
		t.Fatalf("/status?sort=cpu: %d %v", code, err)
	}
	if sorted.Instances[0].Check != "burning" {
		t.Errorf("sorted by CPU, first is %s", sorted.Instances[0].CheckID)
	}
	if code, body := get(t, a, "/status?sort=colour"); code != 400 || !strings.Contains(body, "retained") {
		t.Errorf("an unknown sort: %d %s", code, body)
	}

	code, page := get(t, a, "/?sort=retained")
	if code != 200 || !strings.Contains(page, "What each check costs") {
		t.Fatalf("status page: %d", code)
	}
	costs := page[strings.Index(page, `id="costs"`):]
	if first := strings.Index(costs, "<strong>"); first < 0 || !strings.HasPrefix(costs[first:], "<strong>leaking</strong>") {
		t.Errorf("the page's cost view, sorted by retained memory, does not start with the leaking check")
	}

	_, metrics := get(t, a, "/metrics")
	if v := metricValue(t, metrics, "pyhost_check_retained_bytes", "leaking"); v < 4<<20 {
		t.Errorf("pyhost_check_retained_bytes of the leaking check = %v", v)
	}
	if v := metricValue(t, metrics, "pyhost_check_allocated_bytes_total", "leaking"); v < 4<<20 {
		t.Errorf("pyhost_check_allocated_bytes_total of the leaking check = %v", v)
	}
	if v := metricValue(t, metrics, "pyhost_check_cpu_seconds_total", "burning"); v < 0.02 {
		t.Errorf("pyhost_check_cpu_seconds_total of the burning check = %v", v)
	}
	if !strings.Contains(metrics, "\npyhost_python_unattributed_retained_bytes ") || st.Unattributed.RetainedBytes == 0 {
		t.Errorf("unattributed memory: %+v", st.Unattributed)
	}
	metricValue(t, metrics, "pyhost_check_gil_wait_seconds_total", "steady")
	metricValue(t, metrics, "pyhost_check_queue_wait_seconds_total", "steady")
}

// In a process of its own: the allocator is chosen when the process's first
// runtime starts, and the other tests count memory.
func TestAccountingOff(t *testing.T) {
	if os.Getenv("PYHOST_TEST_ACCOUNTING_OFF") == "" {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestAccountingOff$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "PYHOST_TEST_ACCOUNTING_OFF=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestAccountingOff") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	cfg := layout(t, map[string]string{"steady": steadyCheck},
		map[string]string{"steady.yaml": "instances:\n  - min_collection_interval: 0.1\n"})
	cfg.Accounting = false
	a, _ := startAgent(t, cfg)
	st := waitFor(t, a, "two runs", func(st Status) bool {
		s := instance(st, "steady")
		return s != nil && s.Runs >= 2
	})
	if c := instance(st, "steady").Cost; st.Accounting || c.CPUSeconds != 0 || c.AllocatedBytes != 0 || c.GILWaitSeconds != 0 {
		t.Errorf("accounting off: %v %+v", st.Accounting, c)
	}
	_, metrics := get(t, a, "/metrics")
	if strings.Contains(metrics, "pyhost_check_cpu_seconds_total") {
		t.Error("CPU counters exposed with accounting off")
	}
	if _, page := get(t, a, "/"); !strings.Contains(page, "Accounting is off") {
		t.Error("the status page does not say accounting is off")
	}
}

// A run abandoned as stuck still costs what it cost: when it returns at
// last, its time is in the instance's figures.
func TestAnAbandonedRunIsCounted(t *testing.T) {
	cfg := layout(t,
		map[string]string{"stuck": stuckCheck},
		map[string]string{"stuck.yaml": "instances:\n  - seconds: 2\n    pyhost_run_timeout: 0.3\n    min_collection_interval: 60\n"})
	cfg.CancelGrace = config.Duration(300 * time.Millisecond)
	a, _ := startAgent(t, cfg)
	waitFor(t, a, "the run to be abandoned", func(st Status) bool {
		s := instance(st, "stuck")
		return s != nil && s.Abandoned == 1
	})
	st := waitFor(t, a, "the abandoned run to return", func(st Status) bool {
		s := instance(st, "stuck")
		return s.State != "stuck" && s.Cost.WallSeconds > 0
	})
	c := instance(st, "stuck").Cost
	// It slept 2 s: a wall time that long, almost no CPU.
	if c.WallSeconds < 1.9 || c.CPUSeconds > 0.2 {
		t.Errorf("the abandoned run's cost: %+v", c)
	}
}
