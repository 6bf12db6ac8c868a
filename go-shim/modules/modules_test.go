package modules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pyhost.dev/pyhost"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Modules the tests load, written into each test's Dir.
var sources = map[string]string{
	"costly.py": `
import time
import pyhost

class Module(pyhost.Module):
    def __init__(self):
        super().__init__()
        self.kept = []

    def serve(self):
        while not self.shutting_down:
            deadline = time.monotonic() + 0.01
            while time.monotonic() < deadline:
                sum(range(1000))

    @pyhost.command
    def hoard(self, kib: int) -> int:
        self.kept.append(bytearray(kib * 1024))
        return len(self.kept)
`,
	"sample.py": `
import threading
import pyhost

class Module(pyhost.Module):
    NOTIFY_TYPES = ["inventory", "other"]
    MODULE_OPTIONS = [pyhost.Option("step", type="int", default=1, min=1, max=5)]

    def __init__(self):
        super().__init__()
        self.rounds = 0
        self.seen = []
        self.threads = set()

    def serve(self):
        while not self.wait_for_shutdown(0.005):
            self.rounds += self.get_option("step")

    def notify(self, kind, key):
        self.threads.add(threading.get_ident())
        self.seen.append([kind, key, self.get(kind)])
        if kind == "other":
            raise RuntimeError("notify broke")

    @pyhost.command
    def rounds_done(self) -> int:
        """How many rounds serve has done."""
        return self.rounds

    @pyhost.command
    def seen_so_far(self) -> dict:
        return {"seen": self.seen, "threads": len(self.threads)}

    @pyhost.command
    def add(self, a: int, b: float = 0.5, tags: list[str] = []) -> dict:
        """Adds."""
        if a < 0:
            raise ValueError("a must be at least 0")
        if a == 13:
            raise KeyError("unlucky")
        return {"sum": a + b, "tags": tags}

    @pyhost.command
    def remember(self, key: str, value: str = None) -> str:
        self.set_store(key, value)
        return self.get_store(key, "<none>")

    @pyhost.command
    def recall(self, key: str) -> str:
        return self.get_store(key, "<none>")

    @pyhost.command
    def health(self, code: str) -> None:
        self.set_health_checks({code: {"severity": "error", "summary": "bad", "detail": ["x"]}})
`,
	"crashing.py": `
import pyhost

class Crashing(pyhost.Module):
    def serve(self):
        raise OSError("the socket went away")
`,
	"missing_dep.py": `
import pyhost

class Module(pyhost.Module):
    @staticmethod
    def can_run():
        return False, "needs libfoo"
`,
	"broken.py": "import pyhost\nraise ImportError('no such thing')\n",
	"stuck.py": `
import pyhost

class Module(pyhost.Module):
    NOTIFY_TYPES = ["inventory"]

    def notify(self, kind, key):
        self.wait_for_shutdown()
`,
	"cache.py": `
import pyhost

@pyhost.completion("fetch")
def shout(req, result):
    return result.upper()

class Module(pyhost.Module):
    def __init__(self):
        super().__init__()
        self.known = {"a": "cached-a"}

    @pyhost.dispatch("fetch")
    def answer(self, req):
        return self.known.get(req)
`,
	"pkg/__init__.py": "from .impl import Module\n",
	"pkg/impl.py": `
import pyhost

class Module(pyhost.Module):
    @pyhost.command
    def where(self) -> str:
        return __name__
`,
}

// writeModules writes the shared sources, and a test's own, into a fresh Dir.
func writeModules(t *testing.T, own ...map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	all := maps.Clone(sources)
	for _, m := range own {
		maps.Copy(all, m)
	}
	for name, src := range all {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// callFree calls the module's top-level free(), which lets what it holds
// (serve, shutdown) return.
func callFree(t *testing.T, h *Host, module string) {
	t.Helper()
	free, err := h.rt.LoadFunction(module, "free")
	if err != nil {
		t.Fatal(err)
	}
	defer free.Close()
	if _, err := free.Invoke(); err != nil {
		t.Fatal(err)
	}
}

func newHost(t *testing.T, opts Options) (*pyhost.Runtime, *Host) {
	t.Helper()
	rt, err := pyhost.Start(pyhost.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Dir == "" {
		opts.Dir = writeModules(t)
	}
	opts.Logger = quiet
	h, err := New(rt, opts)
	if err != nil {
		_ = rt.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := rt.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return rt, h
}

func command(t *testing.T, m *Module, name string, args map[string]any) any {
	t.Helper()
	v, err := m.Command(context.Background(), name, args)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// waitFor polls cond: what is awaited is a state the design reaches, with
// no bound on when on a busy machine beyond the test's own timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestServeRunsUntilStop(t *testing.T) {
	_, h := newHost(t, Options{})
	m, err := h.Start("sample", map[string]any{"step": 2})
	if err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.State != "running" || !st.Serve || st.Options[0].Value != int64(2) {
		t.Fatalf("status: %+v", st)
	}
	waitFor(t, "serve rounds", func() bool { return command(t, m, "rounds_done", nil).(int64) >= 6 })
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.State != "stopped" {
		t.Fatalf("after stop: %s", st.State)
	}
	if _, err := m.Command(context.Background(), "rounds_done", nil); !isKind(err, NotRunning) {
		t.Fatalf("a command after stop: %v", err)
	}
}

func isKind(err error, k ErrorKind) bool {
	var ce *CommandError
	return errors.As(err, &ce) && ce.Kind == k
}

func TestACrashingServeIsRestartedThenFailed(t *testing.T) {
	_, h := newHost(t, Options{Backoff: 10 * time.Millisecond, MaxCrashes: 3})
	m, err := h.Start("crashing", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failed", func() bool { return m.Status().State == "failed" })
	st := m.Status()
	if st.Restarts != 2 || !strings.Contains(st.Reason, "3 times") ||
		!strings.Contains(st.Reason, "OSError: the socket went away") ||
		!strings.Contains(st.Traceback, "raise OSError") {
		t.Fatalf("status: %+v", st)
	}
}

func TestModulesThatCannotStartLeaveTheOthersRunning(t *testing.T) {
	_, h := newHost(t, Options{})
	if _, err := h.Start("missing_dep", nil); err == nil {
		t.Fatal("a module whose can_run is false started")
	}
	if _, err := h.Start("broken", nil); err == nil {
		t.Fatal("a module that fails to import started")
	}
	if _, err := h.Start("sample", map[string]any{"step": 9}); err == nil {
		t.Fatal("a module with an option out of range started")
	}
	if _, err := h.Start("absent", nil); err == nil {
		t.Fatal("a module with no file started")
	}
	pkg, err := h.Start("pkg", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := command(t, pkg, "where", nil); got != "pkg.impl" {
		t.Fatalf("package module: %v", got)
	}
	want := map[string]string{
		"missing_dep": "disabled: needs libfoo",
		"broken":      "failed",
		"sample":      "failed",
		"absent":      "failed",
		"pkg":         "running",
	}
	for _, m := range h.Modules() {
		st := m.Status()
		if st.State != want[st.Name] {
			t.Errorf("%s: state %q, want %q (%s)", st.Name, st.State, want[st.Name], st.Reason)
		}
	}
	if r := h.Module("sample").Status().Reason; !strings.Contains(r, "option step") || !strings.Contains(r, "maximum") {
		t.Errorf("bad option reason: %s", r)
	}
	if tb := h.Module("broken").Status().Traceback; !strings.Contains(tb, "no such thing") {
		t.Errorf("import failure traceback: %q", tb)
	}
	if h.Module("missing_dep").Status().BaseState() != Disabled {
		t.Error("BaseState of a disabled module")
	}
	if _, err := h.Start("pkg", nil); !errors.Is(err, pyhost.ErrConflict) {
		t.Errorf("a second start: %v", err)
	}
}

func TestCommandsAreTypedAndTheirFailuresClassified(t *testing.T) {
	_, h := newHost(t, Options{})
	m, err := h.Start("sample", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := command(t, m, "add", map[string]any{"a": 2, "tags": []string{"x"}}).(map[string]any)
	if got["sum"] != 2.5 || got["tags"].([]any)[0] != "x" {
		t.Fatalf("add: %v", got)
	}
	for _, c := range []struct {
		cmd  string
		args map[string]any
		kind ErrorKind
		msg  string
	}{
		{"add", map[string]any{}, BadArguments, "missing argument 'a'"},
		{"add", map[string]any{"a": "two"}, BadArguments, "expected int, found str"},
		{"add", map[string]any{"a": 1, "c": 1}, BadArguments, "unknown argument 'c'"},
		{"nope", nil, BadArguments, "has no command 'nope'"},
		{"add", map[string]any{"a": -1}, Refused, "a must be at least 0"},
		{"add", map[string]any{"a": 13}, Raised, "unlucky"},
	} {
		_, err := m.Command(context.Background(), c.cmd, c.args)
		var ce *CommandError
		if !errors.As(err, &ce) || ce.Kind != c.kind || !strings.Contains(ce.Message, c.msg) {
			t.Errorf("%s %v: %v, want %s %q", c.cmd, c.args, err, c.kind, c.msg)
		}
	}
	var schema Command
	for _, c := range m.Status().Commands {
		if c.Name == "add" {
			schema = c
		}
	}
	if schema.Help != "Adds." || len(schema.Arguments) != 3 || schema.Arguments[0].Type != "int" ||
		!schema.Arguments[0].Required || schema.Arguments[2].Type != "list[str]" {
		t.Fatalf("schema: %+v", schema)
	}
	command(t, m, "health", map[string]any{"code": "DISK_FULL"})
	if hc := m.Status().Health["DISK_FULL"]; hc.Severity != "error" || hc.Summary != "bad" {
		t.Fatalf("health: %+v", m.Status().Health)
	}
}

// The store is in SQLite at StorePath: what one host's module stored, the
// next host (a restarted agent) reads back.
func TestTheStoreOutlivesTheHost(t *testing.T) {
	db := filepath.Join(t.TempDir(), "modules.db")
	dir := writeModules(t)
	rt, err := pyhost.Start(pyhost.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(rt, Options{Dir: dir, StorePath: db, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.Start("sample", nil)
	if err != nil {
		t.Fatal(err)
	}
	command(t, m, "remember", map[string]any{"key": "k", "value": "kept"})
	command(t, m, "remember", map[string]any{"key": "gone", "value": "x"})
	if got := command(t, m, "remember", map[string]any{"key": "gone", "value": nil}); got != "<none>" {
		t.Fatalf("set_store(None) did not delete: %v", got)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}

	_, h2 := newHost(t, Options{Dir: dir, StorePath: db})
	m2, err := h2.Start("sample", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := command(t, m2, "recall", map[string]any{"key": "k"}); got != "kept" {
		t.Fatalf("after a restart: %v", got)
	}
	if got := command(t, m2, "recall", map[string]any{"key": "gone"}); got != "<none>" {
		t.Fatalf("a deleted key after a restart: %v", got)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("the database: %v", err)
	}
}

// One module stuck in notify() holds up neither the publisher nor the
// other modules; its backlog is coalesced and counted. Every module's
// notifications arrive on one thread, in order, and notify() raising is
// counted without stopping the loop.
func TestNotificationsFanOutPastAStuckModule(t *testing.T) {
	rt, h := newHost(t, Options{})
	stuck, err := h.Start("stuck", nil)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := h.Start("sample", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Publish("inventory", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stuck module to be inside notify", func() bool { return stuck.Status().Notifications == 1 && stuck.Status().Backlog == 0 })
	const n = 200
	for i := 1; i <= n; i++ {
		if err := rt.Publish("inventory", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.Publish("unwatched", 1); err != nil {
		t.Fatal(err)
	}
	h.Notify("other", "part-7")
	waitFor(t, "the sample module to see the last value", func() bool {
		seen := command(t, sample, "seen_so_far", nil).(map[string]any)["seen"].([]any)
		if len(seen) < 2 {
			return false
		}
		last := seen[len(seen)-1].([]any)
		return last[0] == "other" && last[1] == "part-7" && seen[len(seen)-2].([]any)[2] == int64(n)
	})
	got := command(t, sample, "seen_so_far", nil).(map[string]any)
	if got["threads"] != int64(1) {
		t.Errorf("notify ran on %v threads", got["threads"])
	}
	for _, s := range got["seen"].([]any) {
		if k := s.([]any)[0]; k == "unwatched" {
			t.Error("notified of a name not in NOTIFY_TYPES")
		}
	}
	st := stuck.Status()
	if st.Backlog != 1 || st.Coalesced != n-1 {
		t.Errorf("stuck module: backlog %d, coalesced %d; want 1 and %d", st.Backlog, st.Coalesced, n-1)
	}
	waitFor(t, "the notify error to be counted", func() bool { return sample.Status().NotifyErrors == 1 })
	if e := sample.Status().LastNotifyError; !strings.Contains(e, "notify broke") {
		t.Errorf("last notify error: %q", e)
	}
}

func TestStopAndCommandsFromManyGoroutines(t *testing.T) {
	_, h := newHost(t, Options{})
	m, err := h.Start("sample", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if i == 13 { // add raises KeyError for it
					continue
				}
				v, err := m.Command(context.Background(), "add", map[string]any{"a": i})
				if err != nil {
					if isKind(err, NotRunning) {
						return
					}
					t.Error(err)
					return
				}
				if v.(map[string]any)["sum"] != float64(i)+0.5 {
					t.Errorf("add(%d) = %v", i, v)
				}
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := h.Start("pkg", nil); !errors.Is(err, pyhost.ErrShutdown) {
		t.Fatalf("start after stop: %v", err)
	}
}

// A module's hook methods and functions sit on the runtime's hook points
// while it runs, and come off when it stops.
func TestModuleHooksLiveAsLongAsTheModule(t *testing.T) {
	rt, h := newHost(t, Options{})
	fetch := rt.Hooks("fetch")
	op := func(_ context.Context, req any) (any, error) { return "fetched-" + req.(string), nil }
	call := func(req string) any {
		v, err := fetch.Call(context.Background(), req, op)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	m, err := h.Start("cache", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := call("a"); got != "cached-a" {
		t.Fatalf("answered by the module's method: %v", got)
	}
	if got := call("b"); got != "FETCHED-B" {
		t.Fatalf("completed by the module's function: %v", got)
	}
	if hooks := m.Status().Hooks; len(hooks) != 2 {
		t.Fatalf("status hooks: %v", hooks)
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := call("a"); got != "fetched-a" || fetch.Installed() {
		t.Fatalf("after stop: %v", got)
	}
}

// A serve that ignores shutdown() makes Stop fail at its deadline, naming
// serve and nothing else.
func TestStopNamesWhatDidNotReturn(t *testing.T) {
	dir := writeModules(t, map[string]string{"deaf.py": `
import threading
import pyhost

release = threading.Event()

def free():
    release.set()

class Module(pyhost.Module):
    def serve(self):
        release.wait()
`})
	_, h := newHost(t, Options{Dir: dir})
	m, err := h.Start("deaf", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = m.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "serve() did not return") ||
		strings.Contains(err.Error(), "notification loop") || strings.Contains(err.Error(), "commands") {
		t.Fatalf("Stop: %v", err)
	}
	callFree(t, h, "deaf") // let serve go, so that the host stops cleanly
	if err := m.Stop(context.Background()); err != nil {
		t.Fatalf("Stop again: %v", err)
	}
}

func TestAModuleShowsWhatItCosts(t *testing.T) {
	_, h := newHost(t, Options{})
	m, err := h.Start("costly", nil)
	if err != nil {
		t.Fatal(err)
	}
	// serve() computes for as long as the module runs: its CPU time shows
	// while it does.
	waitFor(t, "serve's CPU time", func() bool {
		c := m.Status().Cost
		return c.InFlight >= 1 && c.CPUSeconds > 0.05
	})
	before := m.Status().Cost
	for i := 0; i < 4; i++ {
		command(t, m, "hoard", map[string]any{"kib": 256})
	}
	after := m.Status().Cost
	t.Logf("before the commands: %+v; after: %+v", before, after)
	if grown := after.RetainedBytes - before.RetainedBytes; grown < 4*256<<10 || grown > 4*256<<10+64<<10 {
		t.Errorf("4 commands each keeping 256 KiB: retained grew %d bytes", grown)
	}
	if after.Calls < before.Calls+4 {
		t.Errorf("commands not counted: %+v then %+v", before, after)
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Stopped: nothing goes on, and serve's CPU time is in the total.
	if c := m.Status().Cost; c.InFlight != 0 || c.CPUSeconds < after.CPUSeconds {
		t.Errorf("after Stop: %+v", c)
	}
}

// A shutdown() that blocks holds the stop only until its deadline: Python
// cannot be interrupted, so the stop goes on without it.
func TestABlockingShutdownIsBoundedByTheStopsDeadline(t *testing.T) {
	dir := writeModules(t, map[string]string{"stubborn.py": `
import threading
import pyhost

release = threading.Event()

def free():
    release.set()

class Module(pyhost.Module):
    def serve(self):
        release.wait()

    def shutdown(self):
        release.wait()
        super().shutdown()
`})
	_, h := newHost(t, Options{Dir: dir})
	m, err := h.Start("stubborn", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- m.Stop(ctx) }()
	select {
	case err := <-stopped:
		if err == nil || !strings.Contains(err.Error(), "serve() did not return") {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Stop waited for a shutdown() that blocks past its deadline")
	}
	callFree(t, h, "stubborn")
	if err := m.Stop(context.Background()); err != nil {
		t.Fatalf("Stop again: %v", err)
	}
}

// A stop while serve() waits to be restarted ends the wait: it does not sit
// out the back-off (here an hour) until the stop's deadline.
func TestAStopDuringARestartsBackOffEndsIt(t *testing.T) {
	_, h := newHost(t, Options{Backoff: time.Hour, MaxBackoff: time.Hour, MaxCrashes: 3})
	m, err := h.Start("crashing", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restarting", func() bool { return m.Status().State == "restarting" })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatalf("Stop during the back-off: %v", err)
	}
	if st := m.Status().State; st != "stopped" {
		t.Fatalf("state after Stop: %s", st)
	}
}

// A notify() that raises SystemExit fails that notification, not the loop:
// the next one is delivered, and the failure is counted.
func TestANotifyThatExitsFailsOneNotification(t *testing.T) {
	dir := writeModules(t, map[string]string{"exiting.py": `
import sys
import pyhost

class Module(pyhost.Module):
    NOTIFY_TYPES = ["inventory"]

    def __init__(self):
        super().__init__()
        self.seen = []

    def notify(self, kind, key):
        value = self.get(kind)
        if value == 1:
            sys.exit(3)
        self.seen.append(value)

    @pyhost.command
    def seen_so_far(self) -> list:
        return self.seen
`})
	rt, h := newHost(t, Options{Dir: dir})
	m, err := h.Start("exiting", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Publish("inventory", 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the exit to be counted", func() bool { return m.Status().NotifyErrors == 1 })
	if e := m.Status().LastNotifyError; !strings.Contains(e, "SystemExit") {
		t.Errorf("last notify error: %q", e)
	}
	if err := rt.Publish("inventory", 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the next notification", func() bool {
		seen := command(t, m, "seen_so_far", nil).([]any)
		return len(seen) == 1 && seen[0] == int64(2)
	})
}

// A module named as an importable module (here the standard library's
// colorsys) is refused: loaded, it would be what every `import colorsys` in
// the process gets.
func TestAModuleMayNotShadowAnImportableOne(t *testing.T) {
	dir := writeModules(t, map[string]string{"colorsys.py": "import pyhost\n\nclass Module(pyhost.Module):\n    pass\n"})
	_, h := newHost(t, Options{Dir: dir})
	if _, err := h.Start("colorsys", nil); err == nil {
		t.Fatal("a module shadowing colorsys started")
	}
	if r := h.Module("colorsys").Status().Reason; !strings.Contains(r, "would shadow the importable module") || !strings.Contains(r, "colorsys.py") {
		t.Fatalf("reason: %s", r)
	}
}

// A module whose serve() fails for good is asked to shut down: a thread it
// started, waiting on wait_for_shutdown(), ends and does its cleanup.
func TestAFailedModuleIsShutDown(t *testing.T) {
	dir := writeModules(t, map[string]string{"worker_failing.py": `
import threading
import pyhost

cleaned = threading.Event()

def cleaned_up():
    return cleaned.is_set()

class Module(pyhost.Module):
    def __init__(self):
        super().__init__()
        threading.Thread(target=self.work, daemon=True).start()

    def work(self):
        self.wait_for_shutdown()
        cleaned.set()

    def serve(self):
        raise OSError("no backend")
`})
	_, h := newHost(t, Options{Dir: dir, Backoff: time.Millisecond, MaxCrashes: 2})
	m, err := h.Start("worker_failing", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failed", func() bool { return m.Status().State == "failed" })
	cleaned, err := h.rt.LoadFunction("worker_failing", "cleaned_up")
	if err != nil {
		t.Fatal(err)
	}
	defer cleaned.Close()
	waitFor(t, "the worker thread to see the shutdown", func() bool {
		v, err := cleaned.Invoke()
		return err == nil && v == true
	})
}

// slowLoading is a module whose import waits until the file gate exists.
func slowLoading(t *testing.T) (dir, gate string) {
	gate = filepath.Join(t.TempDir(), "gate")
	return writeModules(t, map[string]string{"slow.py": fmt.Sprintf(`
import os, time
import pyhost

while not os.path.exists(%q):
    time.sleep(0.005)

class Module(pyhost.Module):
    def serve(self):
        self.wait_for_shutdown()
`, gate)}), gate
}

func startInBackground(h *Host, name string) <-chan error {
	started := make(chan error, 1)
	go func() {
		_, err := h.Start(name, nil)
		started <- err
	}()
	return started
}

func openGate(t *testing.T, gate string) {
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A module is registered as loading while its import runs: a command is
// refused, and a Stop that gives up waiting for the load says so; the
// module does not come alive when the load returns after that.
func TestAModuleStillLoadingIsShownAndNotStartedAfterAStopGaveUp(t *testing.T) {
	dir, gate := slowLoading(t)
	_, h := newHost(t, Options{Dir: dir})
	started := startInBackground(h, "slow")
	var m *Module
	waitFor(t, "the module registered", func() bool { m = h.Module("slow"); return m != nil })
	if st := m.Status().State; st != string(Loading) {
		t.Fatalf("state %q, want loading", st)
	}
	var ce *CommandError
	if _, err := m.Command(context.Background(), "x", nil); !errors.As(err, &ce) || ce.Kind != NotRunning ||
		!strings.Contains(ce.Message, "loading") {
		t.Fatalf("a command while loading: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Stop(ctx); err == nil || !strings.Contains(err.Error(), "slow is still loading") ||
		!errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop while loading: %v", err)
	}
	openGate(t, gate)
	if err := <-started; !errors.Is(err, pyhost.ErrShutdown) {
		t.Fatalf("start after the host stopped: %v", err)
	}
	if st := m.Status().State; st != string(Stopped) {
		t.Fatalf("state %q, want stopped", st)
	}
}

// A Stop that waits long enough sees the load end, then stops the module.
func TestStopWaitsForAModuleLoadingThenStopsIt(t *testing.T) {
	dir, gate := slowLoading(t)
	_, h := newHost(t, Options{Dir: dir})
	started := startInBackground(h, "slow")
	var m *Module
	waitFor(t, "the module registered", func() bool { m = h.Module("slow"); return m != nil })
	stopped := make(chan error, 1)
	go func() { stopped <- m.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned while the module loaded: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	openGate(t, gate)
	if err := <-started; err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	if st := m.Status().State; st != string(Stopped) {
		t.Fatalf("state %q, want stopped", st)
	}
}
