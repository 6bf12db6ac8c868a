package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pyhost.dev/pyhost"
	"pyhost.dev/pyhost/modules"
)

// StoreFile is the modules' SQLite store in the run directory.
const StoreFile = "modules.db"

// startModules makes the module host and starts the configured modules,
// in order, in the background, once the checks are loaded: a module's
// import, can_run() and constructor are plugin code nothing can interrupt,
// so neither the checks nor the HTTP API wait for them. The next module
// waits for one still loading up to module_load_timeout; the one loading
// stays registered (state loading) and runs if its load ever returns. One
// that cannot start is shown with its state (failed, disabled) and the
// others start.
func (a *Agent) startModules() error {
	trusted := Trusted
	if a.cfg.AllowInsecureFiles {
		trusted = nil
	}
	h, err := modules.New(a.rt, modules.Options{
		Dir:       a.cfg.ModulesDir,
		StorePath: filepath.Join(a.cfg.RunDir, StoreFile),
		Logger:    a.logger,
		Backoff:   time.Duration(a.cfg.ModuleBackoff),
		Trusted:   trusted,
	})
	if err != nil {
		return err
	}
	a.modules = h
	if len(a.cfg.Modules) > 0 {
		go a.loadModules(h)
	}
	return nil
}

// loadModules starts the configured modules one after another.
func (a *Agent) loadModules(h *modules.Host) {
	for _, mc := range a.cfg.Modules {
		loaded := make(chan struct{})
		go func() {
			defer close(loaded)
			switch _, err := h.Start(mc.Name, mc.Options); {
			case err == nil:
				a.logger.Info("module started", "module", mc.Name)
			case errors.Is(err, pyhost.ErrShutdown):
				a.logger.Info("module not started: the agent is stopping", "module", mc.Name)
			default:
				a.logger.Error("module not started", "module", mc.Name, "err", err)
			}
		}()
		select {
		case <-loaded:
		case <-time.After(time.Duration(a.cfg.ModuleLoadTimeout)):
			a.logger.Warn("module still loading after module_load_timeout: starting the next ones meanwhile",
				"module", mc.Name, "module_load_timeout", time.Duration(a.cfg.ModuleLoadTimeout))
		}
	}
}

// stopModules stops the modules in reverse order within ctx.
func (a *Agent) stopModules(ctx context.Context) {
	if a.modules == nil {
		return
	}
	if err := a.modules.Stop(ctx); err != nil {
		a.logger.Warn("modules did not stop in time", "err", err)
	}
}

// ModuleStatuses is every configured module's status, in start order.
func (a *Agent) ModuleStatuses() []modules.Status {
	out := []modules.Status{}
	if a.modules == nil {
		return out
	}
	for _, m := range a.modules.Modules() {
		out = append(out, m.Status())
	}
	return out
}

// HealthCheck is one module health check, as /api/health lists them.
type HealthCheck struct {
	Module string `json:"module"`
	Code   string `json:"code"`
	modules.HealthCheck
}

// Health is every module's health checks, errors first, then by module and code.
func (a *Agent) Health() []HealthCheck {
	out := []HealthCheck{}
	for _, st := range a.ModuleStatuses() {
		for code, hc := range st.Health {
			out = append(out, HealthCheck{Module: st.Name, Code: code, HealthCheck: hc})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity == "error"
		}
		if out[i].Module != out[j].Module {
			return out[i].Module < out[j].Module
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// commandTimeout bounds a command run over HTTP.
const commandTimeout = time.Minute

// moduleHandlers adds /api/modules, /api/health and the command endpoint.
func (a *Agent) moduleHandlers(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/modules", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"modules": a.ModuleStatuses()})
	})
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"checks": a.Health()})
	})
	mux.HandleFunc("POST /api/modules/{module}/commands/{command}", a.serveCommand)
}

func (a *Agent) serveCommand(w http.ResponseWriter, r *http.Request) {
	name, cmd := r.PathValue("module"), r.PathValue("command")
	var m *modules.Module
	if a.modules != nil {
		m = a.modules.Module(name)
	}
	if m == nil {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no module %q", name))
		return
	}
	args, err := decodeArguments(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), commandTimeout)
	defer cancel()
	result, err := m.Command(ctx, cmd, args)
	if err == nil {
		writeJSON(w, http.StatusOK, map[string]any{"result": result})
		return
	}
	var ce *modules.CommandError
	if !errors.As(err, &ce) {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	status := http.StatusInternalServerError
	switch ce.Kind {
	case modules.BadArguments, modules.Refused:
		status = http.StatusBadRequest
	case modules.NotRunning:
		status = http.StatusConflict
	}
	if status == http.StatusInternalServerError {
		a.logger.Error("module command raised", "module", name, "command", cmd, "type", ce.Type,
			"message", ce.Message, "traceback", ce.Traceback)
	}
	writeError(w, status, ce.Type, a.secrets.Text(ce.Message))
}

// decodeArguments reads the request body: one JSON object of arguments (an
// empty body is none). Integers stay integers, exact.
func decodeArguments(r *http.Request) (map[string]any, error) {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("the body must be a JSON object of arguments: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the body must be one JSON object of arguments, with nothing after it")
	}
	args, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("the body must be a JSON object of arguments")
	}
	if _, err := numbers(args, 0); err != nil {
		return nil, err
	}
	return args, nil
}

// maxArgumentDepth is how deep arguments may nest: the value encoding's
// limit, refused here as the client's mistake.
const maxArgumentDepth = 64

// numbers is v with its json.Numbers made int64 when integral (a *big.Int
// past int64), else float64; a number no float64 holds (1e400) or nesting
// past maxArgumentDepth is an error.
func numbers(v any, depth int) (any, error) {
	var err error
	switch v := v.(type) {
	case json.Number:
		return number(v)
	case map[string]any:
		if depth > maxArgumentDepth {
			return nil, errTooDeep
		}
		for k, x := range v {
			if v[k], err = numbers(x, depth+1); err != nil {
				return nil, err
			}
		}
	case []any:
		if depth > maxArgumentDepth {
			return nil, errTooDeep
		}
		for i, x := range v {
			if v[i], err = numbers(x, depth+1); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

var errTooDeep = fmt.Errorf("arguments nest deeper than %d lists and objects", maxArgumentDepth)

func number(n json.Number) (any, error) {
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	if !strings.ContainsAny(n.String(), ".eE") {
		if b, ok := new(big.Int).SetString(n.String(), 10); ok {
			return b, nil
		}
	}
	f, err := n.Float64()
	if err != nil {
		return nil, fmt.Errorf("the number %s is out of range", n)
	}
	return f, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError answers {"error": message, "message": message, "type": the
// Python exception's type (when one was raised)}.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	body := map[string]any{"error": msg, "message": msg}
	if typ != "" {
		body["type"] = typ
	}
	writeJSON(w, status, body)
}

// Module metrics on /metrics.
var (
	moduleLabels    = []string{"module"}
	descModuleState = prometheus.NewDesc("pyhost_module_state",
		"1 for the module's current state (loading, running, restarting, failed, disabled, stopping, stopped).",
		[]string{"module", "state"}, nil)
	descModuleRestarts = prometheus.NewDesc("pyhost_module_restarts_total",
		"Restarts of the module's serve() after it raised.", moduleLabels, nil)
	descModuleNotes = prometheus.NewDesc("pyhost_module_notifications_total",
		"Notifications queued for the module.", moduleLabels, nil)
	descModuleCoalesced = prometheus.NewDesc("pyhost_module_notifications_coalesced_total",
		"Notifications merged into one already pending (a slow module's backlog).", moduleLabels, nil)
	descModuleDropped = prometheus.NewDesc("pyhost_module_notifications_dropped_total",
		"Notifications refused because the module's queue was full.", moduleLabels, nil)
	descModuleNotifyErrors = prometheus.NewDesc("pyhost_module_notify_errors_total",
		"notify() calls that raised.", moduleLabels, nil)
	descHealth = prometheus.NewDesc("pyhost_health_check",
		"1 for each health check a module raises.", []string{"module", "code", "severity"}, nil)
)

var (
	descModuleCPU      = prometheus.NewDesc("pyhost_module_cpu_seconds_total", "CPU time of the module's calls (load, serve, notify, commands), serve's so far included.", moduleLabels, nil)
	descModuleGILWait  = prometheus.NewDesc("pyhost_module_gil_wait_seconds_total", "Time the module's calls waited to take the GIL when they began.", moduleLabels, nil)
	descModuleAlloc    = prometheus.NewDesc("pyhost_module_allocated_bytes_total", "Python memory the module's calls allocated.", moduleLabels, nil)
	descModuleRetained = prometheus.NewDesc("pyhost_module_retained_bytes", "Python memory the module's calls allocated that is still alive.", moduleLabels, nil)
)

var moduleDescs = []*prometheus.Desc{descModuleState, descModuleRestarts, descModuleNotes, descModuleCoalesced,
	descModuleDropped, descModuleNotifyErrors, descHealth,
	descModuleCPU, descModuleGILWait, descModuleAlloc, descModuleRetained}

func (a *Agent) collectModules(ch chan<- prometheus.Metric) {
	for _, st := range a.ModuleStatuses() {
		n := st.Name
		ch <- prometheus.MustNewConstMetric(descModuleState, prometheus.GaugeValue, 1, n, string(st.BaseState()))
		ch <- prometheus.MustNewConstMetric(descModuleRestarts, prometheus.CounterValue, float64(st.Restarts), n)
		ch <- prometheus.MustNewConstMetric(descModuleNotes, prometheus.CounterValue, float64(st.Notifications), n)
		ch <- prometheus.MustNewConstMetric(descModuleCoalesced, prometheus.CounterValue, float64(st.Coalesced), n)
		ch <- prometheus.MustNewConstMetric(descModuleDropped, prometheus.CounterValue, float64(st.Dropped), n)
		ch <- prometheus.MustNewConstMetric(descModuleNotifyErrors, prometheus.CounterValue, float64(st.NotifyErrors), n)
		for code, hc := range st.Health {
			ch <- prometheus.MustNewConstMetric(descHealth, prometheus.GaugeValue, 1, n, code, hc.Severity)
		}
		if a.cfg.Accounting {
			c := st.Cost
			ch <- prometheus.MustNewConstMetric(descModuleCPU, prometheus.CounterValue, c.CPUSeconds, n)
			ch <- prometheus.MustNewConstMetric(descModuleGILWait, prometheus.CounterValue, c.GILWaitSeconds, n)
			ch <- prometheus.MustNewConstMetric(descModuleAlloc, prometheus.CounterValue, float64(c.AllocatedBytes), n)
			ch <- prometheus.MustNewConstMetric(descModuleRetained, prometheus.GaugeValue, float64(c.RetainedBytes), n)
		}
	}
}
