package agent

import (
	"context"
	"time"

	"pyhost.dev/pyhost"
	"pyhost.dev/pyhost/internal/agent/config"
)

// What the agent publishes for plugins (pyhost.host.get in Python; see
// docs/agent.md, "Host state").
const (
	// StateChecks is every check instance's status summary, by check id.
	StateChecks = "pyhost.checks"
	// StateHostname is the agent's host name.
	StateHostname = "pyhost.hostname"
	// StateHostTags is the agent's host tags, a list of "key:value".
	StateHostTags = "pyhost.host_tags"
)

// publishEvery bounds how often the checks summary is republished: runs
// completing mark it changed, and it goes out at most this often.
const publishEvery = time.Second

// publishShare bounds the share of one core the checks summary takes: a
// summary of every instance is work in proportion to the instances (about
// 2.5 µs each), so with tens of thousands the next one waits until the last
// one's cost is this share of the time since (10,000 instances: every ~12 s).
const publishShare = 0.002

// publishHost publishes the host name and tags (once: they do not change
// while the agent runs).
func publishHost(rt *pyhost.Runtime, cfg config.Config) error {
	if err := rt.Publish(StateHostname, hostname(cfg)); err != nil {
		return err
	}
	tags := cfg.HostTags
	if tags == nil {
		tags = []string{}
	}
	return rt.Publish(StateHostTags, tags)
}

// checkSummary is one instance in StateChecks.
func checkSummary(cs CheckStatus) map[string]any {
	var lastRun any // None until the first run
	if cs.LastRun != nil {
		lastRun = float64(cs.LastRun.UnixNano()) / 1e9
	}
	message := ""
	if cs.LastError != nil && (cs.State == "error" || cs.State == "timeout") {
		message = cs.LastError.Message
	}
	return map[string]any{
		"name":             cs.Check,
		"status":           cs.State,
		"runs":             cs.Runs,
		"errors":           cs.Errors,
		"warnings":         cs.Warnings,
		"last_run":         lastRun,
		"last_duration_ms": cs.LastDurationMS,
		"message":          message,
	}
}

// checkSummaries is every instance's StateChecks entry, by check ID. It
// reads only what the summaries hold: the whole Status is several times the
// work, and this runs every second on agents with thousands of instances.
func (a *Agent) checkSummaries() map[string]any {
	stats := a.sched.Stats()
	summary := make(map[string]any, len(a.instances))
	for i, inst := range a.instances {
		summary[inst.Check.ID()] = checkSummary(a.instanceStatus(i, inst, stats[i]))
	}
	return summary
}

// publishChecks publishes every instance's summary now.
func (a *Agent) publishChecks() {
	summary := a.checkSummaries()
	if err := a.rt.Publish(StateChecks, summary); err != nil && !a.stopping.Load() {
		a.logger.Warn("publishing the checks' status failed", "err", err)
	}
}

// publishLoop republishes the checks summary after runs complete, at most
// once per publishEvery and within publishShare of a core, until ctx ends.
func (a *Agent) publishLoop(ctx context.Context) {
	wait := time.NewTimer(publishEvery)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		next := publishEvery
		if a.stateChanged.Swap(false) {
			start := time.Now()
			a.publishChecks()
			next = publishPause(time.Since(start))
		}
		wait.Reset(next)
	}
}

// publishPause is how long to wait after a publication that took took.
func publishPause(took time.Duration) time.Duration {
	return max(publishEvery, time.Duration(float64(took)/publishShare))
}
