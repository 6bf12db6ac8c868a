package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"pyhost.dev/pyhost/internal/agent/config"
)

// layout writes checks.d/NAME.py and conf.d/NAME.yaml files under a temp
// dir and returns a configuration pointing at them.
func layout(t testing.TB, checks map[string]string, confs map[string]string) config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.ChecksDir = filepath.Join(dir, "checks.d")
	cfg.ConfDir = filepath.Join(dir, "conf.d")
	cfg.RunDir = filepath.Join(dir, "run")
	cfg.CheckRunners = 4
	cfg.ShutdownTimeout = config.Duration(2 * time.Second)
	for _, d := range []string{cfg.ChecksDir, cfg.ConfDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range checks {
		write(t, filepath.Join(cfg.ChecksDir, name+".py"), body)
	}
	for name, body := range confs {
		write(t, filepath.Join(cfg.ConfDir, name), body)
	}
	return cfg
}

func write(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startAgent runs an agent until the test ends.
func startAgent(t *testing.T, cfg config.Config) (*Agent, func() error) {
	t.Helper()
	a, err := New(cfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Error("agent did not stop")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return a, stop
}

func get(t *testing.T, a *Agent, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + a.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls the agent's status until cond holds.
func waitFor(t testing.TB, a *Agent, what string, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := a.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", "  ")
			t.Fatalf("timed out waiting for %s; status:\n%s", what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func instance(st Status, check string) *CheckStatus {
	for i := range st.Instances {
		if st.Instances[i].Check == check {
			return &st.Instances[i]
		}
	}
	return nil
}

const goodCheck = `
from pyhost import AgentCheck

class Good(AgentCheck):
    def check(self, instance):
        self.gauge("agent_test.value", instance["v"], tags=["env:test", "role:db"])
        self.count("agent_test.hits", 2, tags=["env:test"])
        self.service_check("agent_test.up", AgentCheck.OK, tags=["env:test"])
`

const raisingCheck = `
from pyhost import AgentCheck

class Raises(AgentCheck):
    def check(self, instance):
        self.gauge("agent_test.before_raise", 1)
        raise RuntimeError("database unreachable")
`

func TestAgentRunsChecksAndServesTheirSeries(t *testing.T) {
	cfg := layout(t,
		map[string]string{"good": goodCheck, "raising": raisingCheck, "broken": "def oops(:\n"},
		map[string]string{
			"good.yaml":    "init_config:\ninstances:\n  - v: 42\n    min_collection_interval: 0.1\n",
			"raising.yaml": "init_config:\ninstances:\n  - min_collection_interval: 0.1\n",
			"broken.yaml":  "instances:\n  - {}\n",
			"badyaml.yaml": "instances:\n  - a: [1\n",
			"nosuch.yaml":  "instances:\n  - {}\n",
		})
	a, stop := startAgent(t, cfg)
	st := waitFor(t, a, "two runs of each check", func(st Status) bool {
		g, r := instance(st, "good"), instance(st, "raising")
		return g != nil && r != nil && g.Runs >= 2 && r.Runs >= 2
	})

	good := instance(st, "good")
	if good.Errors != 0 || good.LastError != nil || good.MetricsLastRun != 2 || good.IntervalSeconds != 0.1 {
		t.Errorf("good: %+v", good)
	}
	raising := instance(st, "raising")
	if raising.Errors < 2 || raising.State != "error" || raising.LastError == nil ||
		raising.LastError.Type != "RuntimeError" || !strings.Contains(raising.LastError.Traceback, `raise RuntimeError("database unreachable")`) {
		t.Errorf("raising: %+v", raising)
	}
	// The broken file, the YAML error and the unknown check are each a
	// problem with its file; the good checks ran regardless.
	var problems []string
	for _, p := range st.Problems {
		problems = append(problems, p.Check+"|"+filepath.Base(p.File)+"|"+p.Message)
	}
	joined := strings.Join(problems, "\n")
	for _, want := range []string{"broken|broken.yaml|SyntaxError", "badyaml|badyaml.yaml|", "nosuch|nosuch.yaml|unknown check"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems lack %q:\n%s", want, joined)
		}
	}

	code, body := get(t, a, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`agent_test_value{env="test",role="db"} 42`,
		"# TYPE agent_test_hits counter",
		`agent_test_before_raise 1`,
		`pyhost_service_check_status{env="test",service_check="agent_test.up"} 0`,
		`pyhost_check_runs_total{check="good",check_id="` + good.CheckID + `"}`,
		`pyhost_check_errors_total{check="raising"`,
		"pyhost_config_problems 3",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	code, body = get(t, a, "/status")
	var fromHTTP Status
	if code != 200 || json.Unmarshal([]byte(body), &fromHTTP) != nil || len(fromHTTP.Instances) != 2 || fromHTTP.Python.Executable == "" {
		t.Errorf("/status: %d %s", code, body)
	}
	code, body = get(t, a, "/")
	if code != 200 || !strings.Contains(body, "database unreachable") || !strings.Contains(body, "SyntaxError") ||
		!strings.Contains(body, fromHTTP.Python.Executable) {
		t.Errorf("status page: %d\n%s", code, body)
	}
	if code, _ := get(t, a, "/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := get(t, a, "/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

const sleepyCheck = `
import time
from pyhost import AgentCheck

class Sleepy(AgentCheck):
    def check(self, instance):
        end = time.monotonic() + instance["seconds"]
        while time.monotonic() < end:
            time.sleep(0.01)
        self.gauge("agent_test.slept", instance["seconds"])
`

func TestTimeoutsCancelAndOverrunsSkip(t *testing.T) {
	cfg := layout(t,
		map[string]string{"sleepy": sleepyCheck},
		map[string]string{"sleepy.yaml": `init_config:
instances:
  - seconds: 30
    pyhost_run_timeout: 0.3
    min_collection_interval: 0.5
    tags: [kind:stuck]
  - seconds: 0.4
    pyhost_run_timeout: 5
    min_collection_interval: 0.1
    tags: [kind:slow]
`})
	a, stop := startAgent(t, cfg)
	st := waitFor(t, a, "a timeout and skipped ticks", func(st Status) bool {
		return len(st.Instances) == 2 && st.Instances[0].Timeouts >= 1 && st.Instances[1].Skipped >= 3 && st.Instances[1].Runs >= 2
	})
	stuck, slow := st.Instances[0], st.Instances[1]
	if stuck.LastError == nil || stuck.LastError.Type != "timeout" || stuck.LastDurationMS < 300 || stuck.LastDurationMS > 3000 {
		t.Errorf("stuck: %+v", stuck)
	}
	if slow.Errors != 0 || slow.Timeouts != 0 || slow.AvgDurationMS < 400 {
		t.Errorf("slow: %+v", slow)
	}
	_, body := get(t, a, "/metrics")
	if !strings.Contains(body, `pyhost_check_timeouts_total{check="sleepy",check_id="`+stuck.CheckID+`"} `) ||
		!strings.Contains(body, `agent_test_slept 0.4`) {
		t.Errorf("/metrics:\n%s", body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownCancelsRunsPastTheDeadline(t *testing.T) {
	cfg := layout(t,
		map[string]string{"sleepy": sleepyCheck},
		map[string]string{"sleepy.yaml": "instances:\n  - seconds: 60\n    pyhost_run_timeout: 120\n    min_collection_interval: 0.1\n"})
	cfg.ShutdownTimeout = config.Duration(300 * time.Millisecond)
	a, stop := startAgent(t, cfg)
	waitFor(t, a, "the run to start", func(st Status) bool { return st.Instances[0].State == "running" })
	begin := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	st := a.Status()
	if !st.Stopping || st.Instances[0].Runs != 1 || st.Instances[0].LastError == nil || st.Instances[0].LastError.Type != "cancelled" {
		t.Fatalf("after shutdown: %+v", st.Instances[0])
	}
}

func TestNewFailsWhenTheAddressIsTaken(t *testing.T) {
	cfg := layout(t, nil, nil)
	a, _ := startAgent(t, cfg)
	cfg.Listen = a.Addr()
	if _, err := New(cfg, quietLogger()); err == nil || !strings.Contains(err.Error(), a.Addr()) {
		t.Fatalf("New on a taken address: %v", err)
	}
}

func TestChecksComeFromChecksDirThenDatadogChecksThenModules(t *testing.T) {
	cfg := layout(t, nil, map[string]string{
		"vendored.yaml": "instances:\n  - min_collection_interval: 0.1\n",
		"plain.yaml":    "instances:\n  - min_collection_interval: 0.1\n",
	})
	mods := filepath.Join(t.TempDir(), "site")
	pkg := filepath.Join(mods, "datadog_checks", "vendored")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(mods, "datadog_checks", "__init__.py"), "")
	write(t, filepath.Join(pkg, "__init__.py"), "from .check import VendoredCheck\n")
	write(t, filepath.Join(pkg, "check.py"), strings.ReplaceAll(goodCheck, "class Good", "class VendoredCheck"))
	write(t, filepath.Join(mods, "plain.py"), strings.ReplaceAll(goodCheck, "instance[\"v\"]", "7"))
	cfg.Python.Paths = []string{mods}
	a, _ := startAgent(t, cfg)
	st := waitFor(t, a, "both module checks to run", func(st Status) bool {
		v, p := instance(st, "vendored"), instance(st, "plain")
		return v != nil && p != nil && v.Runs >= 1 && p.Runs >= 1
	})
	if v := instance(st, "vendored"); v.Source != "datadog_checks.vendored" || v.LastError == nil ||
		!strings.Contains(v.LastError.Message, "'v'") {
		// The instance has no "v": the vendored class ran and raised KeyError.
		t.Errorf("vendored: %+v", v)
	}
	if p := instance(st, "plain"); p.Source != "plain" || p.Errors != 0 || p.MetricsLastRun != 2 {
		t.Errorf("plain: %+v", p)
	}
}

const stuckCheck = `
import time
from pyhost import AgentCheck

class Stuck(AgentCheck):
    def check(self, instance):
        time.sleep(instance["seconds"])
        self.gauge("agent_test.stuck_returned", 1)
`

const healthyCheck = `
from pyhost import AgentCheck

class Healthy(AgentCheck):
    def check(self, instance):
        self.gauge("agent_test.healthy", 1)
`

// Six instances blocked in a 30 s sleep with a 1 s deadline, on 4 runners,
// beside a healthy check at a 1 s interval: the healthy check keeps its
// schedule (a run past its deadline gives its runner up), the sleeping ones
// are stuck after cancel_grace, and shutdown still takes shutdown_timeout
// plus a second, with no error.
func TestStuckChecksDoNotTakeTheRunners(t *testing.T) {
	// Check ids come from the configuration, and an abandoned run keeps its
	// id taken until it returns (so that it cannot submit into a new check
	// of that id): each run of this test has ids of its own (-count=N).
	stuckConf := "instances:\n"
	for i := range 6 {
		stuckConf += fmt.Sprintf("  - seconds: 30\n    pyhost_run_timeout: 1\n    min_collection_interval: 1\n    n: %d\n    test_run: %d\n", i, time.Now().UnixNano())
	}
	cfg := layout(t,
		map[string]string{"stuck": stuckCheck, "healthy": healthyCheck},
		map[string]string{"stuck.yaml": stuckConf, "healthy.yaml": "instances:\n  - min_collection_interval: 1\n"})
	cfg.CancelGrace = config.Duration(time.Second)
	cfg.ShutdownTimeout = config.Duration(time.Second)
	a, stop := startAgent(t, cfg)
	st := waitFor(t, a, "stuck runs and healthy runs", func(st Status) bool {
		healthy := instance(st, "healthy")
		stuck := 0
		for _, c := range st.Instances {
			if c.State == "stuck" {
				stuck++
			}
		}
		return stuck == 6 && healthy.Runs >= 6
	})
	healthy := instance(st, "healthy")
	// Ticks are at most as late as the first second, when every runner was
	// taken by a sleeping run not yet past its deadline.
	if healthy.Skipped > 1 || healthy.Errors != 0 {
		t.Errorf("healthy: %+v", healthy)
	}
	if st.StuckRuns != 6 {
		t.Errorf("stuck runs %d, want 6", st.StuckRuns)
	}
	for _, c := range st.Instances {
		if c.Check == "stuck" && (c.Abandoned != 1 || c.Runs != 0) {
			t.Errorf("stuck instance: %+v", c)
		}
	}
	_, body := get(t, a, "/metrics")
	if !strings.Contains(body, "pyhost_stuck_runs 6") || !strings.Contains(body, `pyhost_check_stuck{check="stuck"`) {
		t.Errorf("/metrics lacks the stuck runs:\n%s", body)
	}
	begin := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("shutdown with stuck runs: %v", err)
	}
	// shutdown_timeout (1 s) plus one second, and room for a busy machine.
	if took := time.Since(begin); took > 3*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
}

const leakyCheck = `
import logging
from pyhost import AgentCheck

class Leaky(AgentCheck):
    def check(self, instance):
        self.log.warning("connecting with %s", instance["password"])
        self.warning("retrying with password=%s", instance["password"])
        raise ConnectionError("auth failed for " + instance["password"])
`

// Secrets in an instance's configuration are masked wherever the agent
// shows what the check produced: /status, the status page, the log.
func TestSecretsAreRedacted(t *testing.T) {
	cfg := layout(t,
		map[string]string{"leaky": leakyCheck},
		map[string]string{"leaky.yaml": "instances:\n  - password: hunter2-secret\n    min_collection_interval: 0.2\n"})
	var logs strings.Builder
	var mu sync.Mutex
	a, err := New(cfg, slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	st := waitFor(t, a, "a failed run", func(st Status) bool { return len(st.Instances) == 1 && st.Instances[0].Errors >= 1 })
	b, _ := json.Marshal(st)
	_, page := get(t, a, "/")
	mu.Lock()
	logged := logs.String()
	mu.Unlock()
	for where, text := range map[string]string{"/status": string(b), "the status page": page, "the log": logged} {
		if strings.Contains(text, "hunter2") {
			t.Errorf("%s shows the password", where)
		}
	}
	if !strings.Contains(string(b), "auth failed for ********") || !strings.Contains(logged, "connecting with ********") {
		t.Errorf("the masked texts are missing:\n%s\n%s", b, logged)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A check or configuration file that other users may write is refused,
// unless allow_insecure_files says otherwise.
func TestFilesOthersMayWriteAreRefused(t *testing.T) {
	cfg := layout(t,
		map[string]string{"open": healthyCheck, "closed": healthyCheck},
		map[string]string{"open.yaml": "instances: [{}]\n", "closed.yaml": "instances: [{}]\n", "loose.yaml": "instances: [{}]\n"})
	write(t, filepath.Join(cfg.ChecksDir, "loose.py"), healthyCheck)
	for _, p := range []string{filepath.Join(cfg.ChecksDir, "open.py"), filepath.Join(cfg.ConfDir, "loose.yaml")} {
		if err := os.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	a, stop := startAgent(t, cfg)
	st := a.Status()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(st.Instances) != 1 || st.Instances[0].Check != "closed" {
		t.Fatalf("instances: %+v", st.Instances)
	}
	problems := map[string]string{}
	for _, p := range st.Problems {
		problems[p.Check] = p.Message
	}
	for _, name := range []string{"open", "loose"} {
		if !strings.Contains(problems[name], "writable by its group and everyone") || !strings.Contains(problems[name], "refused") {
			t.Errorf("%s: problem %q", name, problems[name])
		}
	}
	cfg.AllowInsecureFiles = true
	b, _ := startAgent(t, cfg)
	if n := len(b.Status().Instances); n != 3 {
		t.Fatalf("with allow_insecure_files: %d instances, want 3", n)
	}
}

// Requests that change state need the API token, written at start into the
// run directory for the agent's user only.
func TestMutatingRequestsNeedTheToken(t *testing.T) {
	cfg := layout(t, nil, nil)
	a, _ := startAgent(t, cfg)
	info, err := os.Stat(filepath.Join(cfg.RunDir, TokenFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", info, err)
	}
	token, _ := os.ReadFile(filepath.Join(cfg.RunDir, TokenFile))
	post := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/status", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(""); got != http.StatusUnauthorized {
		t.Errorf("POST without the token: %d", got)
	}
	if got := post("Bearer wrong"); got != http.StatusUnauthorized {
		t.Errorf("POST with a wrong token: %d", got)
	}
	if got := post("Bearer " + strings.TrimSpace(string(token))); got == http.StatusUnauthorized {
		t.Errorf("POST with the token: %d", got)
	}
	if code, _ := get(t, a, "/status"); code != 200 {
		t.Errorf("GET needs no token: %d", code)
	}
}

// A check reading the host state the agent publishes: its hostname and host
// tags, and the other instances' status as runs complete.
const hostStateCheck = `
from pyhost import AgentCheck, host

class Reader(AgentCheck):
    def check(self, instance):
        checks = host.get("pyhost.checks", {})
        tags = ["host:" + host.get("pyhost.hostname")] + list(host.get("pyhost.host_tags"))
        for check_id, s in checks.items():
            if s["name"] == "raising" and s["runs"] > 0:
                tags.append("raising:" + s["status"])
                tags.append("message:" + s["message"])
        self.gauge("reader.instances", len(checks), tags=tags)
        self.gauge("reader.version", host.version("pyhost.checks"))
`

func TestAgentPublishesItsStateForPlugins(t *testing.T) {
	cfg := layout(t,
		map[string]string{"reader": hostStateCheck, "raising": raisingCheck, "good": goodCheck},
		map[string]string{
			"reader.yaml":  "instances:\n  - min_collection_interval: 0.1\n",
			"raising.yaml": "instances:\n  - min_collection_interval: 0.1\n",
			"good.yaml":    "instances:\n  - v: 1\n    min_collection_interval: 0.1\n  - v: 2\n    min_collection_interval: 0.1\n",
		})
	cfg.Hostname = "state-host"
	cfg.HostTags = []string{"env:prod", "team:core"}
	a, _ := startAgent(t, cfg)
	want := []string{
		`reader_instances{env="prod",host="state-host",message="database unreachable",raising="error",team="core"} 4`,
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := get(t, a, "/metrics")
		if strings.Contains(body, want[0]) {
			// The summary is republished as runs complete.
			if strings.Contains(body, "reader_version ") && !strings.Contains(body, "reader_version 1\n") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader never saw the agent's state; /metrics:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The summaries published for plugins say what /status says of each
// instance (they are made apart from Status, for speed).
func TestCheckSummariesAgreeWithStatus(t *testing.T) {
	cfg := layout(t,
		map[string]string{"raising": raisingCheck, "good": goodCheck},
		map[string]string{
			"raising.yaml": "instances:\n  - min_collection_interval: 0.05\n",
			"good.yaml":    "instances:\n  - v: 1\n    min_collection_interval: 0.05\n  - v: 2\n    min_collection_interval: 3600\n",
		})
	a, stop := startAgent(t, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ran := 0
		for _, cs := range a.Status().Instances {
			if cs.Runs >= 2 {
				ran++
			}
		}
		if ran >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the checks did not run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := a.Status()
	want := make(map[string]any, len(st.Instances))
	states := map[string]bool{}
	for _, cs := range st.Instances {
		want[cs.CheckID] = checkSummary(cs)
		states[cs.State] = true
	}
	if !states["error"] || !states["ok"] {
		t.Fatalf("want instances in error and ok, got states %v", states)
	}
	if got := a.checkSummaries(); !reflect.DeepEqual(got, want) {
		t.Errorf("summaries:\n%v\nwant (from Status):\n%v", got, want)
	}
}
