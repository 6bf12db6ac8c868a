// A Go program in its own module, outside the pyhost repository, as a user
// writes one: it links pyhost through a replace directive and starts the
// runtime with zero options (no environment variable). It checks two
// lifecycle promises and both ways across the bridge, and prints what it
// saw as JSON:
//
//   - a log handler that panics while a check logs leaves the check
//     runnable, run after run;
//   - Python calls a Go function and reads published host state, through a
//     typed Invoke;
//   - Runtime.Close waits for a function call in flight.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"pyhost.dev/pyhost"
)

const checkSource = `from pyhost import AgentCheck


class Chatty(AgentCheck):
    def check(self, instance):
        self.log.warning("please panic")
        self.gauge("outside.ran", 1)
`

const moduleSource = `import logging
import time


def use_go(a, b):
    import outside_go
    from pyhost import host

    return {"sum": outside_go.add(a, b), "state": host.get("outside.state")["n"]}


def sleep(seconds):
    logging.getLogger("outside").warning("sleeping")
    time.sleep(seconds)
    logging.getLogger("outside").warning("slept")
    return seconds
`

// handler panics on "please panic" and signals "sleeping" and "slept".
type handler struct {
	mu       sync.Mutex
	sleeping chan struct{}
	slept    bool
}

func (h *handler) Enabled(context.Context, slog.Level) bool { return true }
func (h *handler) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "please panic":
		panic("a broken log handler")
	case "sleeping":
		close(h.sleeping)
	case "slept":
		h.mu.Lock()
		h.slept = true
		h.mu.Unlock()
	}
	return nil
}
func (h *handler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *handler) WithGroup(string) slog.Handler      { return h }

type report struct {
	Runs        []string `json:"runs"`
	CloseWaited bool     `json:"close_waited"`
	CallError   string   `json:"call_error"`
	CloseError  string   `json:"close_error"`
	Python      string   `json:"python"`
	Engine      string   `json:"engine"`
	Bridge      any      `json:"bridge"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "pyhost-outside")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "chatty.py"), []byte(checkSource), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "outside_module.py"), []byte(moduleSource), 0o644); err != nil {
		return err
	}
	h := &handler{sleeping: make(chan struct{})}
	rt, err := pyhost.Start(pyhost.Options{PythonPath: []string{dir}, Logger: slog.New(h)})
	if err != nil {
		return err
	}
	var rep report
	info, err := rt.PythonInfo()
	if err != nil {
		return err
	}
	rep.Python = info.Executable
	rep.Engine = info.Engine

	if err := rt.DefineModule("outside_go", map[string]any{"add": func(a, b int) int { return a + b }}); err != nil {
		return err
	}
	if err := rt.Publish("outside.state", map[string]any{"n": 7}); err != nil {
		return err
	}
	useGo, err := rt.LoadFunction("outside_module", "use_go")
	if err != nil {
		return err
	}
	if rep.Bridge, err = useGo.Invoke(2, 3); err != nil {
		return err
	}

	class, err := rt.LoadCheckClass(filepath.Join(dir, "chatty.py"), "")
	if err != nil {
		return err
	}
	chk, err := class.NewCheck("chatty", nil, nil)
	if err != nil {
		return err
	}
	for range 3 {
		res, err := chk.Run(context.Background())
		switch {
		case err != nil:
			rep.Runs = append(rep.Runs, "error: "+err.Error())
		case len(res.Metrics) != 1:
			rep.Runs = append(rep.Runs, fmt.Sprintf("%d metrics", len(res.Metrics)))
		default:
			rep.Runs = append(rep.Runs, "ok")
		}
	}

	fn, err := rt.LoadFunction("outside_module", "sleep")
	if err != nil {
		return err
	}
	called := make(chan error)
	go func() { _, err := fn.Call([]byte(`[0.5]`)); called <- err }()
	<-h.sleeping
	if err := rt.Close(); err != nil {
		rep.CloseError = err.Error()
	}
	h.mu.Lock()
	rep.CloseWaited = h.slept
	h.mu.Unlock()
	if err := <-called; err != nil {
		rep.CallError = err.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}
