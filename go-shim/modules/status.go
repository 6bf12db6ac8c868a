package modules

import (
	"fmt"
	"time"
)

// State is where a module is in its life.
type State string

const (
	// Loading: Start is importing the module, calling its can_run() and
	// making its instance (plugin code, which nothing can interrupt).
	Loading State = "loading"
	// Running: loaded; serve (if it has one) is running, notifications and
	// commands are delivered.
	Running State = "running"
	// Restarting: serve raised and is called again after a back-off;
	// notifications and commands are still delivered.
	Restarting State = "restarting"
	// Failed: the module could not load (an import error, a bad option) or
	// serve crashed MaxCrashes times in a row. Reason and Traceback say why.
	Failed State = "failed"
	// Disabled: the module's can_run() said it cannot run; Reason says why.
	Disabled State = "disabled"
	// Stopping and Stopped: Stop was called; Stopped once serve and the
	// notification loop returned.
	Stopping State = "stopping"
	Stopped  State = "stopped"
)

// Status is a module as /api/modules shows it.
type Status struct {
	Name string `json:"name"`
	// State is the state, written "disabled: <reason>" when disabled.
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"`
	Traceback string `json:"traceback,omitempty"`
	Path      string `json:"path,omitempty"`
	// Serve: the module has a serve() method.
	Serve       bool     `json:"serve"`
	NotifyTypes []string `json:"notify_types"`
	Options     []Option `json:"options"`
	// Hooks are the module's hooks installed on hook points, e.g.
	// "dispatch lookup" (see pyhost.Runtime.Hooks).
	Hooks    []string               `json:"hooks"`
	Commands []Command              `json:"commands"`
	Health   map[string]HealthCheck `json:"health"`
	Started  *time.Time             `json:"started,omitempty"`
	// Restarts counts serve restarts after a crash.
	Restarts int `json:"restarts"`
	// Notifications counts notifications queued for the module; Coalesced
	// those merged into one already pending, Dropped those refused because
	// the queue was full, Backlog those pending now, NotifyErrors the
	// notify() calls that raised (the last one's message in LastNotifyError).
	Notifications   uint64 `json:"notifications"`
	Coalesced       uint64 `json:"coalesced"`
	Dropped         uint64 `json:"dropped"`
	Backlog         int    `json:"backlog"`
	NotifyErrors    uint64 `json:"notify_errors"`
	LastNotifyError string `json:"last_notify_error,omitempty"`
	// Cost is what the module's calls cost so far.
	Cost Cost `json:"cost"`
}

// Cost is what a module's calls (load, serve, notify, commands; not its
// hooks, which count under their hook points) cost so far: a serve loop
// going on shows its CPU time while it runs. Zero with accounting off.
type Cost struct {
	Calls          uint64  `json:"calls"`     // calls that ended
	InFlight       uint64  `json:"in_flight"` // calls going on (serve, the notification loop, commands)
	CPUSeconds     float64 `json:"cpu_seconds"`
	WallSeconds    float64 `json:"wall_seconds"` // of the ended calls
	GILWaitSeconds float64 `json:"gil_wait_seconds"`
	AllocatedBytes uint64  `json:"allocated_bytes"`
	RetainedBytes  uint64  `json:"retained_bytes"`
}

// BaseState is State without a disabled module's reason.
func (s Status) BaseState() State {
	if len(s.State) > len(Disabled) && s.State[:len(Disabled)+1] == string(Disabled)+":" {
		return Disabled
	}
	return State(s.State)
}

// Option is one of a module's MODULE_OPTIONS, with its value.
type Option struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Default     any    `json:"default"`
	Value       any    `json:"value"`
	Min         any    `json:"min,omitempty"`
	Max         any    `json:"max,omitempty"`
	EnumAllowed []any  `json:"enum_allowed,omitempty"`
	Desc        string `json:"desc,omitempty"`
}

// Command is one of a module's commands with its arguments' schema.
type Command struct {
	Name      string     `json:"name"`
	Help      string     `json:"help"`
	Arguments []Argument `json:"arguments"`
}

// Argument is a command's argument, typed from the method's hints: Type is
// str, int, float, bool, list[str], list[int], list[float], enum (one of
// Choices) or any.
type Argument struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
	Default  any    `json:"default,omitempty"`
	Nullable bool   `json:"nullable,omitempty"`
	Choices  []any  `json:"choices,omitempty"`
}

// HealthCheck is one of a module's health checks.
type HealthCheck struct {
	Severity string   `json:"severity"` // "warning" or "error"
	Summary  string   `json:"summary"`
	Detail   []string `json:"detail"`
}

// ErrorKind says how a command failed; the agent's HTTP API maps it to a
// status code.
type ErrorKind string

const (
	// BadArguments: no such command, or an unknown, missing or wrongly
	// typed argument (HTTP 400).
	BadArguments ErrorKind = "arguments"
	// Refused: the command raised ValueError (HTTP 400).
	Refused ErrorKind = "value"
	// Raised: the command raised anything else (HTTP 500).
	Raised ErrorKind = "exception"
	// NotRunning: the module is not running (failed, disabled, stopped).
	NotRunning ErrorKind = "not_running"
)

// CommandError is a command that did not return a result.
type CommandError struct {
	Kind      ErrorKind
	Type      string // the Python exception's type, when one was raised
	Message   string
	Traceback string
}

func (e *CommandError) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Type, e.Message)
}

// The decoders below read what pyhost._modules_host returns: typed values
// (map[string]any, []any, int64 …) as the value encoding decodes them.

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func stringList(v any) []string {
	var out []string
	for _, s := range list(v) {
		if s, ok := s.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func optionList(v any) []Option {
	out := []Option{}
	for _, o := range list(v) {
		m, _ := o.(map[string]any)
		out = append(out, Option{Name: str(m, "name"), Type: str(m, "type"), Default: m["default"],
			Value: m["value"], Min: m["min"], Max: m["max"], EnumAllowed: list(m["enum_allowed"]),
			Desc: str(m, "desc")})
	}
	return out
}

func commands(v any) []Command {
	out := []Command{}
	for _, c := range list(v) {
		m, _ := c.(map[string]any)
		cmd := Command{Name: str(m, "name"), Help: str(m, "help"), Arguments: []Argument{}}
		for _, a := range list(m["arguments"]) {
			am, _ := a.(map[string]any)
			req, _ := am["required"].(bool)
			nullable, _ := am["nullable"].(bool)
			cmd.Arguments = append(cmd.Arguments, Argument{Name: str(am, "name"), Type: str(am, "type"),
				Required: req, Default: am["default"], Nullable: nullable, Choices: list(am["choices"])})
		}
		out = append(out, cmd)
	}
	return out
}

// health reads set_health_checks' argument (already checked by the SDK).
func health(checks map[string]any) (map[string]HealthCheck, error) {
	out := make(map[string]HealthCheck, len(checks))
	for code, c := range checks {
		m, ok := c.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("health check %s: expected a dict", code)
		}
		sev := str(m, "severity")
		if sev != "warning" && sev != "error" {
			return nil, fmt.Errorf("health check %s: severity must be warning or error, not %q", code, sev)
		}
		detail := stringList(m["detail"])
		if detail == nil {
			detail = []string{}
		}
		out[code] = HealthCheck{Severity: sev, Summary: str(m, "summary"), Detail: detail}
	}
	return out, nil
}
