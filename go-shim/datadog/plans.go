package datadog

import "github.com/DataDog/datadog-agent/pkg/obfuscate"

// The Agent's settings for SQL execution plans (MySQL and Postgres EXPLAIN
// output as JSON), as it sets them for Python checks: values under these
// keys are kept, or obfuscated as SQL; every other value is replaced.

// planSQLValueKeys hold SQL fragments (conditions): obfuscated as SQL.
var planSQLValueKeys = []string{
	// MySQL
	"attached_condition",
	// Postgres
	"Cache Key", "Conflict Arbiter Indexes", "Conflict Resolution", "Filter", "Hash Cond",
	"Index Cond", "Join Filter", "Merge Cond", "Recheck Cond", "Sampling Parameters", "TID Cond",
}

// planKeptKeys hold plan structure and measurements, safe to keep.
var planKeptKeys = []string{
	"Actual Loops", "Actual Rows", "Actual Startup Time", "Actual Total Time", "Alias",
	"Async Capable", "Average Sort Space Used", "Cache Evictions", "Cache Hits", "Cache Misses",
	"Cache Overflows", "Command", "Conflicting Tuples", "Constraint Name", "CTE Name",
	"Custom Plan Provider", "Deforming", "Emission", "Exact Heap Blocks", "Execution Time",
	"Expressions", "Foreign Delete", "Foreign Insert", "Foreign Update", "Function Call",
	"Function Name", "Generation", "Group Count", "Grouping Sets", "Group Key", "HashAgg Batches",
	"Hash Buckets", "Hash Key", "Hash Keys", "Heap Fetches", "I/O Read Time", "I/O Write Time",
	"Incremental Sort Groups", "Index Name", "Inlining", "Join Type", "Local Dirtied Blocks",
	"Local Hit Blocks", "Local Read Blocks", "Local Written Blocks", "Lossy Heap Blocks",
	"Node Type", "Optimization", "Options", "Original Hash Batches", "Original Hash Buckets",
	"Parallel Aware", "Parent Relationship", "Partial Mode", "Peak Memory Usage",
	"Peak Sort Space Used", "Planned Partitions", "Planning Time", "Presorted Key",
	"Query Identifier", "Relation Name", "Repeatable Seed", "Rows Removed by Conflict Filter",
	"Rows Removed by Filter", "Rows Removed by Index Recheck", "Rows Removed by Join Filter",
	"Sampling Method", "Scan Direction", "Schema", "Settings", "Shared Dirtied Blocks",
	"Shared Hit Blocks", "Shared Read Blocks", "Shared Written Blocks", "Single Copy", "Sort Key",
	"Sort Method", "Sort Methods Used", "Sort Space", "Sort Space Type", "Sort Space Used",
	"Strategy", "Subplan Name", "Subplans Removed", "Target Tables", "Temp Read Blocks",
	"Temp Written Blocks", "Time", "Timing", "Total", "Trigger", "Trigger Name", "Triggers",
	"Tuples Inserted", "Tuplestore Name", "WAL Bytes", "WAL FPI", "WAL Records", "Worker",
	"Worker Number", "Workers", "Workers Launched", "Workers Planned",
}

// planEstimateKeys hold the planner's cost and row estimates: kept when a
// plan is obfuscated, dropped when it is normalized.
var planEstimateKeys = []string{
	// MySQL
	"cost_info", "filtered", "rows_examined_per_join", "rows_examined_per_scan", "rows_produced_per_join",
	// Postgres
	"Plan Rows", "Plan Width", "Startup Cost", "Total Cost",
}

var planNormalizeSettings = obfuscate.JSONConfig{
	Enabled:            true,
	ObfuscateSQLValues: planSQLValueKeys,
	KeepValues:         planKeptKeys,
}

var planObfuscateSettings = obfuscate.JSONConfig{
	Enabled:            true,
	ObfuscateSQLValues: planSQLValueKeys,
	KeepValues:         append(append([]string{}, planEstimateKeys...), planKeptKeys...),
}
