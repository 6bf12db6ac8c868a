// Package datadog gives a pyhost runtime what the Datadog Agent's Python
// checks need from the Agent's Go side. DefineObfuscator backs
// datadog_agent.obfuscate_sql, obfuscate_sql_exec_plan and
// obfuscate_mongodb_string with the Agent's own obfuscator
// (github.com/DataDog/datadog-agent/pkg/obfuscate), configured as the Agent
// configures it; database integrations call them on every query sample.
package datadog

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/DataDog/datadog-agent/pkg/obfuscate"

	"pyhost.dev/pyhost"
)

// ModuleName is the module of Go functions the engine's datadog_agent
// calls for obfuscation.
const ModuleName = "_pyhost_obfuscate"

// sqlOptions is obfuscate_sql's options argument, a JSON object: the
// obfuscator's SQL settings, and whether to return the metadata too.
type sqlOptions struct {
	obfuscate.SQLConfig
	// ReturnJSONMetadata makes obfuscate_sql return
	// {"query": ..., "metadata": {...}} as JSON instead of the query.
	ReturnJSONMetadata bool `json:"return_json_metadata"`
}

// Obfuscator is the Agent's obfuscator with its Python-facing functions.
// One is shared by every check of a runtime; calls may come from any Python
// thread at once (the GIL is released while they run), so it is locked.
type Obfuscator struct {
	mu sync.Mutex
	o  *obfuscate.Obfuscator
}

// NewObfuscator configures the obfuscator as the Agent does for Python
// checks: SQL execution plans obfuscated and normalized with the Agent's
// key lists, MongoDB commands obfuscated.
func NewObfuscator() *Obfuscator {
	return &Obfuscator{o: obfuscate.NewObfuscator(obfuscate.Config{
		SQLExecPlan:          planObfuscateSettings,
		SQLExecPlanNormalize: planNormalizeSettings,
		Mongo:                obfuscate.JSONConfig{Enabled: true, KeepValues: []string{}, ObfuscateSQLValues: []string{}},
	})}
}

// SQL obfuscates and normalizes query; options is the JSON object
// datadog_checks passes (empty: the defaults).
func (ob *Obfuscator) SQL(query, options string) (string, error) {
	if options == "" {
		options = "{}"
	}
	var opts sqlOptions
	if err := json.Unmarshal([]byte(options), &opts); err != nil {
		return "", fmt.Errorf("obfuscation options: %w", err)
	}
	ob.mu.Lock()
	q, err := ob.o.ObfuscateSQLStringWithOptions(query, &opts.SQLConfig, options)
	ob.mu.Unlock()
	if err != nil {
		return "", err
	}
	if !opts.ReturnJSONMetadata {
		return q.Query, nil
	}
	out, err := json.Marshal(q)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// SQLExecPlan obfuscates a JSON execution plan, and normalizes it (drops
// the cost and row estimates) when normalize is set.
func (ob *Obfuscator) SQLExecPlan(plan string, normalize bool) (string, error) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return ob.o.ObfuscateSQLExecPlan(plan, normalize)
}

// MongoDB obfuscates a MongoDB command (JSON).
func (ob *Obfuscator) MongoDB(command string) (string, error) {
	ob.mu.Lock()
	out := ob.o.ObfuscateMongoDBString(command)
	ob.mu.Unlock()
	if out == "" {
		return "", errors.New("failed to obfuscate MongoDB command")
	}
	return out, nil
}

// DefineObfuscator defines ModuleName in rt with a new Obfuscator, so the
// datadog_agent.obfuscate_* functions work in its checks.
func DefineObfuscator(rt *pyhost.Runtime) error {
	ob := NewObfuscator()
	return rt.DefineModule(ModuleName, map[string]any{
		"sql":           ob.SQL,
		"sql_exec_plan": ob.SQLExecPlan,
		"mongodb":       ob.MongoDB,
	})
}
