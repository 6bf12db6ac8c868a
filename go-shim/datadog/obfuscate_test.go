package datadog

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"pyhost.dev/pyhost"
)

func testdata() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata")
}

func call(t *testing.T, rt *pyhost.Runtime, name string, args ...any) (string, string) {
	t.Helper()
	fn, err := rt.LoadFunction("obfuscation", name)
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	out, err := fn.Invoke(args...)
	if err != nil {
		t.Fatalf("%s%v: %v", name, args, err)
	}
	pair := out.([]any)
	return pair[0].(string), pair[1].(string)
}

func squash(s string) string { return strings.Join(strings.Fields(s), "") }

// Through datadog_agent, as integrations call it, the outputs are the
// obfuscator's documented ones (its own tests, pkg/obfuscate).
func TestObfuscationThroughDatadogAgent(t *testing.T) {
	rt, err := pyhost.Start(pyhost.Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	// Before the obfuscator is defined: a clear RuntimeError.
	kind, msg := call(t, rt, "sql", "SELECT 1")
	if kind != "RuntimeError" || !strings.Contains(msg, "defines no obfuscator") {
		t.Fatalf("without an obfuscator: %s %q", kind, msg)
	}
	if err := DefineObfuscator(rt); err != nil {
		t.Fatal(err)
	}

	kind, got := call(t, rt, "sql", "SELECT * FROM users WHERE id = 42 AND name = 'bob'")
	if kind != "ok" || got != "SELECT * FROM users WHERE id = ? AND name = ?" {
		t.Fatalf("obfuscate_sql: %s %q", kind, got)
	}

	// The options JSON is honoured, return_json_metadata included
	// (TestSQLMetadata in pkg/obfuscate).
	query := "\n/* Multi-line comment */\nSELECT * FROM clients WHERE (clients.first_name = 'Andy') LIMIT 1 BEGIN INSERT INTO owners (created_at, first_name, locked, orders_count, updated_at) VALUES ('2011-08-30 05:22:57', 'Andy', 1, NULL, '2011-08-30 05:22:57') COMMIT"
	options := `{"table_names": true, "collect_commands": true, "collect_comments": true, "return_json_metadata": true}`
	kind, got = call(t, rt, "sql", query, options)
	if kind != "ok" {
		t.Fatalf("obfuscate_sql with metadata: %s %q", kind, got)
	}
	var withMeta struct {
		Query    string `json:"query"`
		Metadata struct {
			TablesCSV string   `json:"tables_csv"`
			Commands  []string `json:"commands"`
			Comments  []string `json:"comments"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(got), &withMeta); err != nil {
		t.Fatalf("metadata JSON %q: %v", got, err)
	}
	if withMeta.Query != "SELECT * FROM clients WHERE ( clients.first_name = ? ) LIMIT ? BEGIN INSERT INTO owners ( created_at, first_name, locked, orders_count, updated_at ) VALUES ( ? ) COMMIT" ||
		withMeta.Metadata.TablesCSV != "clients,owners" ||
		!reflect.DeepEqual(withMeta.Metadata.Commands, []string{"SELECT", "BEGIN", "INSERT", "COMMIT"}) ||
		!reflect.DeepEqual(withMeta.Metadata.Comments, []string{"/* Multi-line comment */"}) {
		t.Fatalf("obfuscate_sql with metadata: %+v", withMeta)
	}
	// Without return_json_metadata, the query alone.
	kind, got = call(t, rt, "sql", query, `{"table_names": true}`)
	if kind != "ok" || got != withMeta.Query {
		t.Fatalf("obfuscate_sql without metadata: %s %q", kind, got)
	}
	// The go-sqllexer mode, as database integrations configure it.
	kind, got = call(t, rt, "sql", "SELECT * FROM users WHERE id = 42", `{"dbms": "postgresql", "obfuscation_mode": "obfuscate_and_normalize"}`)
	if kind != "ok" || got != "SELECT * FROM users WHERE id = ?" {
		t.Fatalf("obfuscate_sql in sqllexer mode: %s %q", kind, got)
	}
	// Errors are RuntimeErrors with the obfuscator's message.
	if kind, msg := call(t, rt, "sql", "SELECT 1", "{not json"); kind != "RuntimeError" || !strings.Contains(msg, "obfuscation options") {
		t.Fatalf("bad options: %s %q", kind, msg)
	}
	if kind, msg := call(t, rt, "sql", "SELECT ¡"); kind != "RuntimeError" || msg == "" {
		t.Fatalf("an unparsable query: %s %q", kind, msg)
	}

	// Execution plans: values obfuscated, kept keys kept; normalizing drops
	// the estimates.
	plan := `{"Plan": {"Node Type": "Seq Scan", "Relation Name": "users", "Filter": "(id = 42)", "Total Cost": 35.5, "Plan Rows": 10, "Secret": "abc"}}`
	kind, got = call(t, rt, "plan", plan, false)
	if kind != "ok" || squash(got) != squash(`{"Plan": {"Node Type": "Seq Scan", "Relation Name": "users", "Filter": "(id = ?)", "Total Cost": 35.5, "Plan Rows": 10, "Secret": "?"}}`) {
		t.Fatalf("obfuscate_sql_exec_plan: %s %q", kind, got)
	}
	kind, got = call(t, rt, "plan", plan, true)
	if kind != "ok" || squash(got) != squash(`{"Plan": {"Node Type": "Seq Scan", "Relation Name": "users", "Filter": "(id = ?)", "Total Cost": "?", "Plan Rows": "?", "Secret": "?"}}`) {
		t.Fatalf("obfuscate_sql_exec_plan normalized: %s %q", kind, got)
	}

	// MongoDB: every value obfuscated (json_tests.xml, elasticsearch.body.1,
	// with no kept keys, as the Agent configures MongoDB).
	kind, got = call(t, rt, "mongodb", `{ "query": { "multi_match" : { "query" : "guide", "fields" : ["_all", { "key": "value", "other": ["1", "2", {"k": "v"}] }, "2"] } } }`)
	if kind != "ok" || squash(got) != squash(`{ "query": { "multi_match": { "query": "?", "fields" : ["?", { "key": "?", "other": ["?", "?", {"k": "?"}] }, "?"] } } }`) {
		t.Fatalf("obfuscate_mongodb_string: %s %q", kind, got)
	}
}

// Python threads obfuscating at once share one obfuscator safely.
func TestObfuscatorIsSafeFromManyGoroutines(t *testing.T) {
	ob := NewObfuscator()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				got, err := ob.SQL("SELECT a FROM t WHERE b = "+strings.Repeat("9", g+i%5+1), `{"table_names": true}`)
				if err != nil || got != "SELECT a FROM t WHERE b = ?" {
					t.Errorf("SQL: %q %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
