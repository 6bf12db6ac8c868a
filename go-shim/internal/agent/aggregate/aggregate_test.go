package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"pyhost.dev/pyhost"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func metric(name string, typ pyhost.MetricType, v float64, tags ...string) pyhost.Metric {
	return pyhost.Metric{Name: name, Type: typ, Value: v, Tags: tags}
}

func values(typ pyhost.MetricType, name string, vs ...float64) []pyhost.Metric {
	ms := make([]pyhost.Metric, len(vs))
	for i, v := range vs {
		ms[i] = metric(name, typ, v)
	}
	return ms
}

// show renders series compactly: "name type value [tags] host".
func show(ss []Series) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s %g", s.Name, s.Type, s.Value)
		if len(s.Tags) > 0 {
			fmt.Fprintf(&b, " %v", s.Tags)
		}
		if s.Hostname != "" {
			b.WriteString(" @" + s.Hostname)
		}
	}
	return b.String()
}

// runs commits each run 10 s after the previous one and checks the flushes.
func runs(t *testing.T, s *Sampler, want []string, batches ...[]pyhost.Metric) {
	t.Helper()
	for i, ms := range batches {
		got := show(s.Commit(ms, t0.Add(time.Duration(i)*10*time.Second)))
		if got != want[i] {
			t.Errorf("commit %d: got %q, want %q", i+1, got, want[i])
		}
	}
}

func TestGauge(t *testing.T) {
	runs(t, NewSampler(), []string{"g gauge 3", "", "g gauge 5"},
		values(pyhost.Gauge, "g", 1, 3), nil, values(pyhost.Gauge, "g", 5))
}

func TestCount(t *testing.T) {
	runs(t, NewSampler(), []string{"c count 3.5", "", "c count -1"},
		values(pyhost.Count, "c", 1, 2.5), nil, values(pyhost.Count, "c", -1))
}

func TestCounterIsRate(t *testing.T) {
	runs(t, NewSampler(), []string{"k rate 5", "k rate 1"},
		values(pyhost.Counter, "k", 2, 3), values(pyhost.Counter, "k", 1))
}

func TestRate(t *testing.T) {
	// Runs 10 s apart.
	runs(t, NewSampler(),
		[]string{"", "r gauge 2", "", "r gauge 2", "r gauge 0.5"},
		values(pyhost.Rate, "r", 10),
		values(pyhost.Rate, "r", 30),
		values(pyhost.Rate, "r", 25), // negative: dropped, but the new base
		values(pyhost.Rate, "r", 45),
		values(pyhost.Rate, "r", 99, 50), // the run's last sample counts
	)
}

func TestRateKnownTimestamps(t *testing.T) {
	s := NewSampler()
	if got := s.Commit(values(pyhost.Rate, "r", 100), t0); len(got) != 0 {
		t.Fatalf("first sample flushed %v", got)
	}
	got := s.Commit(values(pyhost.Rate, "r", 175), t0.Add(15*time.Second))
	if show(got) != "r gauge 5" {
		t.Fatalf("got %q, want r gauge 5", show(got))
	}
	// Same time again: no rate; a later run rates against it.
	if got := s.Commit(values(pyhost.Rate, "r", 200), t0.Add(15*time.Second)); len(got) != 0 {
		t.Fatalf("dt = 0 flushed %v", got)
	}
	if got := show(s.Commit(values(pyhost.Rate, "r", 260), t0.Add(45*time.Second))); got != "r gauge 2" {
		t.Fatalf("got %q, want r gauge 2", got)
	}
	// An earlier time: nothing.
	if got := s.Commit(values(pyhost.Rate, "r", 300), t0); len(got) != 0 {
		t.Fatalf("dt < 0 flushed %v", got)
	}
}

func TestMonotonicCount(t *testing.T) {
	runs(t, NewSampler(),
		[]string{"m count 5", "m count 4", "m count 0", "m count 3", "", "m count 1"},
		values(pyhost.MonotonicCount, "m", 2, 3, 6, 7), // 7-2
		values(pyhost.MonotonicCount, "m", 10, 11),     // 11-7
		values(pyhost.MonotonicCount, "m", 5),          // reset: nothing counted
		values(pyhost.MonotonicCount, "m", 8),          // 8-5
		nil,
		values(pyhost.MonotonicCount, "m", 4, 5), // reset to 4 then +1
	)
}

func TestMonotonicCountFirstValueNotCounted(t *testing.T) {
	runs(t, NewSampler(), []string{"", "m count 3"},
		values(pyhost.MonotonicCount, "m", 7), values(pyhost.MonotonicCount, "m", 10))
}

func TestMonotonicCountFlushFirstValue(t *testing.T) {
	ffv := func(vs ...float64) []pyhost.Metric {
		ms := values(pyhost.MonotonicCount, "m", vs...)
		for i := range ms {
			ms[i].FlushFirstValue = true
		}
		return ms
	}
	runs(t, NewSampler(),
		[]string{"m count 5", "m count 3", "m count 2", "m count 8", "m count 1"},
		ffv(5),                                // first value counted
		ffv(8),                                // +3
		ffv(2),                                // reset: 2 counted
		ffv(6, 1, 4),                          // +4, reset +1, +3
		values(pyhost.MonotonicCount, "m", 5), // no flag: +1
	)
}

func TestHistogram(t *testing.T) {
	var vs []float64
	for i := 20; i >= 1; i-- { // 20 … 1
		vs = append(vs, float64(i))
	}
	runs(t, NewSampler(),
		[]string{
			"h.95percentile gauge 19; h.avg gauge 10.5; h.count rate 20; h.max gauge 20; h.median gauge 10",
			"",
			"h.95percentile gauge 7; h.avg gauge 7; h.count rate 1; h.max gauge 7; h.median gauge 7",
			"h.95percentile gauge 4; h.avg gauge 2.5; h.count rate 4; h.max gauge 4; h.median gauge 2",
		},
		values(pyhost.Histogram, "h", vs...), nil,
		values(pyhost.Histogram, "h", 7),
		values(pyhost.Histogram, "h", 3, 1, 4, 2),
	)
}

func TestHistorate(t *testing.T) {
	runs(t, NewSampler(),
		[]string{
			"",
			"h.95percentile gauge 10; h.avg gauge 10; h.count rate 1; h.max gauge 10; h.median gauge 10",
			"h.95percentile gauge 20; h.avg gauge 20; h.count rate 1; h.max gauge 20; h.median gauge 20",
			"h.95percentile gauge 10; h.avg gauge 10; h.count rate 1; h.max gauge 10; h.median gauge 10",
		},
		values(pyhost.Historate, "h", 100),
		values(pyhost.Historate, "h", 200),      // (200-100)/10
		values(pyhost.Historate, "h", 400, 500), // (400-200)/10; 500 same time: no rate
		values(pyhost.Historate, "h", 600),      // (600-500)/10
	)
}

func TestNonFiniteSkipped(t *testing.T) {
	runs(t, NewSampler(),
		[]string{"c count 1; g gauge 2", "", "h.95percentile gauge 1; h.avg gauge 1; h.count rate 1; h.max gauge 1; h.median gauge 1"},
		[]pyhost.Metric{
			metric("g", pyhost.Gauge, 2), metric("g", pyhost.Gauge, math.NaN()),
			metric("c", pyhost.Count, 1), metric("c", pyhost.Count, math.Inf(1)),
		},
		[]pyhost.Metric{metric("g", pyhost.Gauge, math.NaN()), metric("n", pyhost.Count, math.Inf(-1))},
		[]pyhost.Metric{metric("h", pyhost.Histogram, 1), metric("h", pyhost.Histogram, math.NaN())},
	)
	// An overflowing average is not flushed; the other aggregates are.
	got := show(NewSampler().Commit(values(pyhost.Histogram, "h", math.MaxFloat64, math.MaxFloat64), t0))
	if strings.Contains(got, "avg") || !strings.Contains(got, "h.max") {
		t.Fatalf("got %q", got)
	}
}

func TestContextsAndOrder(t *testing.T) {
	s := NewSampler()
	shared := []string{"b:2", "a:1"}
	got := s.Commit([]pyhost.Metric{
		metric("z", pyhost.Count, 1, "b:2", "a:1", "a:1"),
		metric("z", pyhost.Count, 2, "a:1", "b:2"), // same context
		{Name: "z", Type: pyhost.Count, Value: 4, Tags: shared, Hostname: "h"},
		{Name: "z", Type: pyhost.Count, Value: 8, Tags: shared, Hostname: "h"},
		metric("z", pyhost.Count, 16),
		metric("y", pyhost.Gauge, 1, "x"),
		metric("z", pyhost.Count, 32, "a:0"),
		metric("", pyhost.Gauge, 1),             // no name: dropped
		metric("bad", pyhost.MetricType(42), 1), // unknown type: dropped
	}, t0)
	want := "y gauge 1 [x]; z count 16; z count 32 [a:0]; z count 3 [a:1 b:2]; z count 12 [a:1 b:2] @h"
	if show(got) != want {
		t.Fatalf("got  %q\nwant %q", show(got), want)
	}
	if len(shared) != 2 || shared[0] != "b:2" {
		t.Fatalf("input tags modified: %v", shared)
	}
}

func TestContextTypeIsFirstSamples(t *testing.T) {
	// Datadog's context key has no type: a count sample on a gauge context
	// is aggregated as a gauge.
	got := NewSampler().Commit([]pyhost.Metric{metric("x", pyhost.Gauge, 1), metric("x", pyhost.Count, 5)}, t0)
	if show(got) != "x gauge 5" {
		t.Fatalf("got %q", show(got))
	}
}

// A sampler scans its first few contexts and indexes more: the same
// aggregation either way, across growth and expiry.
func TestManyContextsAggregateAsFew(t *testing.T) {
	s := NewSampler()
	batch := func(n int, v float64) []pyhost.Metric {
		ms := make([]pyhost.Metric, 0, 2*n)
		for i := range n {
			tag := fmt.Sprintf("i:%02d", i)
			ms = append(ms, metric("c", pyhost.Count, v, tag), metric("c", pyhost.Count, v, tag))
		}
		return ms
	}
	sum := func(ss []Series) (total float64) {
		for _, x := range ss {
			total += x.Value
		}
		return total
	}
	for _, n := range []int{3, indexedContexts, 20, 40} {
		got := s.Commit(batch(n, 1), t0)
		if len(got) != n || sum(got) != float64(2*n) {
			t.Fatalf("%d contexts: %d series summing to %g, want %d summing to %d", n, len(got), sum(got), n, 2*n)
		}
		for i, x := range got {
			if want := fmt.Sprintf("i:%02d", i); len(x.Tags) != 1 || x.Tags[0] != want {
				t.Fatalf("series %d: tags %v, want [%s]", i, x.Tags, want)
			}
		}
	}
	// Only the first 5 go on: the other 35 expire at the second commit
	// without them, and the 5 still aggregate on their own.
	s.Commit(batch(5, 2), t0)
	if got := s.Commit(batch(5, 3), t0); s.Len() != 5 || len(got) != 5 || sum(got) != 30 {
		t.Fatalf("after expiry: %d contexts, series %s", s.Len(), show(got))
	}
	if got := s.Commit(batch(12, 1), t0); s.Len() != 12 || sum(got) != 24 {
		t.Fatalf("grown again: %d contexts, series %s", s.Len(), show(got))
	}
}

func TestSamplerContextExpiry(t *testing.T) {
	s := NewSampler()
	s.Commit([]pyhost.Metric{metric("g", pyhost.Gauge, 1), metric("m", pyhost.MonotonicCount, 1)}, t0)
	s.Commit(nil, t0.Add(time.Minute))
	if s.Len() != 2 {
		t.Fatalf("after 1 empty commit: %d contexts, want 2", s.Len())
	}
	s.Commit(nil, t0.Add(2*time.Minute))
	if s.Len() != 1 {
		t.Fatalf("after 2 empty commits: %d contexts, want 1 (the monotonic_count)", s.Len())
	}
	// The monotonic_count state survives a long gap under 25 h…
	if got := show(s.Commit(values(pyhost.MonotonicCount, "m", 4), t0.Add(24*time.Hour))); got != "m count 3" {
		t.Fatalf("got %q, want m count 3", got)
	}
	s.Commit(nil, t0.Add(24*time.Hour+time.Minute))
	s.Commit(nil, t0.Add(50*time.Hour))
	if s.Len() != 0 {
		t.Fatalf("after 26 h: %d contexts, want 0", s.Len())
	}
}

func TestSeriesJSON(t *testing.T) {
	b, err := json.Marshal([]Series{{Name: "a", Type: SeriesRate, Value: 1.5}, {Name: "b", Tags: []string{"x"}, Hostname: "h"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"a","type":"rate","value":1.5,"tags":[],"hostname":""},{"name":"b","type":"gauge","value":0,"tags":["x"],"hostname":"h"}]`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back []Series
	if err := json.Unmarshal(b, &back); err != nil || back[0].Type != SeriesRate {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if _, err := json.Marshal(Series{Type: 9}); err == nil {
		t.Fatal("invalid type marshalled")
	}
}

// --- exposition ---

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newAgg(t *testing.T) (*Aggregator, *clock, *bytes.Buffer) {
	c := &clock{t: t0}
	var logs bytes.Buffer
	a := New(Options{Now: c.now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	return a, c, &logs
}

func res(ms ...pyhost.Metric) *pyhost.Result { return &pyhost.Result{Metrics: ms} }

func compare(t *testing.T, a *Aggregator, want string, names ...string) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

func TestExposition(t *testing.T) {
	a, _, _ := newAgg(t)
	r := &pyhost.Result{
		Metrics: []pyhost.Metric{
			{Name: "system.load.1", Type: pyhost.Gauge, Value: 0.5, Tags: []string{"env:prod"}, Hostname: "web1"},
			metric("requests", pyhost.Count, 3, "code:200"),
			metric("q.rate", pyhost.Rate, 10),
		},
		ServiceChecks: []pyhost.ServiceCheck{{Name: "db.can_connect", Status: pyhost.StatusCritical, Tags: []string{"db:main"}}},
		Events:        []pyhost.Event{{Title: "a"}, {Title: "b"}},
	}
	a.Commit("mycheck", "mycheck:1", r, t0)
	r.Metrics[1].Value, r.Metrics[2].Value, r.Events = 4, 30, nil
	a.Commit("mycheck", "mycheck:1", r, t0.Add(10*time.Second))
	compare(t, a, `
# HELP pyhost_check_events_total Events submitted by Python checks, by check
# TYPE pyhost_check_events_total counter
pyhost_check_events_total{check="mycheck"} 2
# HELP pyhost_service_check_status Status of service checks submitted by Python checks: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
# TYPE pyhost_service_check_status gauge
pyhost_service_check_status{db="main",service_check="db.can_connect"} 2
# HELP q_rate Datadog gauge "q.rate" submitted by Python checks
# TYPE q_rate gauge
q_rate 2
# HELP requests Datadog count "requests" submitted by Python checks, summed since the agent started
# TYPE requests counter
requests{code="200"} 7
# HELP system_load_1 Datadog gauge "system.load.1" submitted by Python checks
# TYPE system_load_1 gauge
system_load_1{env="prod",host="web1"} 0.5
`)
	if n := a.Len(); n != 5 {
		t.Fatalf("Len = %d, want 5", n)
	}
	if err := testutil.CollectAndCompare(a, strings.NewReader(`
# HELP requests Datadog count "requests" submitted by Python checks, summed since the agent started
# TYPE requests counter
requests{code="200"} 7
`), "requests"); err != nil {
		t.Fatal(err)
	}
}

func TestHistogramExposition(t *testing.T) {
	a, _, _ := newAgg(t)
	a.Commit("c", "c:1", res(values(pyhost.Histogram, "lat", 1, 2, 3)...), t0)
	compare(t, a, `
# HELP lat_95percentile Datadog gauge "lat.95percentile" submitted by Python checks
# TYPE lat_95percentile gauge
lat_95percentile 3
# HELP lat_avg Datadog gauge "lat.avg" submitted by Python checks
# TYPE lat_avg gauge
lat_avg 2
# HELP lat_count Datadog rate "lat.count" submitted by Python checks
# TYPE lat_count gauge
lat_count 3
# HELP lat_max Datadog gauge "lat.max" submitted by Python checks
# TYPE lat_max gauge
lat_max 3
# HELP lat_median Datadog gauge "lat.median" submitted by Python checks
# TYPE lat_median gauge
lat_median 2
`, "lat_95percentile", "lat_avg", "lat_count", "lat_max", "lat_median")
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"system.load.1": "system_load_1",
		"a:b_c":         "a:b_c",
		"1xx.count":     "_1xx_count",
		"système.load":  "syst_me_load",
		"a-b c":         "a_b_c",
		"__x":           "__x",
	} {
		if got := metricName(in); got != want {
			t.Errorf("metricName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"env":      "env",
		"a.b":      "a_b",
		"a:b":      "a_b",
		"9lives":   "_9lives",
		"__name__": "tag__name__",
		"_x":       "_x",
		"":         "tag",
		"é":        "_",
	} {
		if got := labelName(in); got != want {
			t.Errorf("labelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTagLabels(t *testing.T) {
	cases := []struct {
		tags      []string
		host      string
		xName, xV string
		want      string
	}{
		{[]string{"env:prod"}, "", "", "", `env="prod"`},
		{[]string{"url:http://x:80/"}, "", "", "", `url="http://x:80/"`},
		{[]string{"bare"}, "", "", "", `bare="true"`},
		{[]string{"", "k:"}, "", "", "", `k=""`},
		{[]string{"role:web", "role:db", "role:web", "role"}, "", "", "", `role="db,true,web"`},
		{[]string{"a.b:1", "a_b:2"}, "", "", "", `a_b="1,2"`},
		{[]string{"__name__:x", ":v"}, "", "", "", `tag="v",tag__name__="x"`},
		{[]string{"host:h1", "z:1"}, "h2", "", "", `host="h2",z="1"`},
		{[]string{"host:h1"}, "", "", "", `host="h1"`},
		{[]string{"service_check:x", "a:1"}, "", "service_check", "db", `a="1",service_check="db"`},
		{[]string{"k:\xff"}, "", "", "", `k="` + "\uFFFD" + `"`},
	}
	for _, c := range cases {
		var b strings.Builder
		for i, l := range tagLabels(nil, c.tags, c.host, c.xName, c.xV) {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%q", l.name, l.value)
		}
		if b.String() != c.want {
			t.Errorf("%q host %q: got %s, want %s", c.tags, c.host, b.String(), c.want)
		}
	}
}

func TestLabelsThroughRegistry(t *testing.T) {
	a, _, _ := newAgg(t)
	// Different label-name sets in one family, and a sanitised collision
	// within one instance (the last flushed value wins: "a_b" sorts after "a.b").
	a.Commit("c", "c:1", res(
		metric("m", pyhost.Gauge, 1, "a:1"),
		metric("m", pyhost.Gauge, 2, "b:2", "b:3"),
		metric("m", pyhost.Gauge, 3),
		metric("a.b", pyhost.Gauge, 4, "9:x"),
		metric("a_b", pyhost.Gauge, 5, "9:x"),
	), t0)
	compare(t, a, `
# HELP a_b Datadog gauge "a.b" submitted by Python checks
# TYPE a_b gauge
a_b{_9="x"} 5
# HELP m Datadog gauge "m" submitted by Python checks
# TYPE m gauge
m 3
m{a="1"} 1
m{b="2,3"} 2
`, "a_b", "m")
}

func TestDuplicatesAcrossInstances(t *testing.T) {
	a, _, _ := newAgg(t)
	a.Commit("c", "c:1", res(metric("g", pyhost.Gauge, 1), metric("n", pyhost.Count, 5)), t0)
	a.Commit("c", "c:2", res(metric("g", pyhost.Gauge, 2), metric("n", pyhost.Count, 7)), t0)
	want := func(g, n float64, events float64) string {
		return fmt.Sprintf(`
# HELP g Datadog gauge "g" submitted by Python checks
# TYPE g gauge
g %g
# HELP n Datadog count "n" submitted by Python checks, summed since the agent started
# TYPE n counter
n %g
# HELP pyhost_check_events_total Events submitted by Python checks, by check
# TYPE pyhost_check_events_total counter
pyhost_check_events_total{check="c"} %g
`, g, n, events)
	}
	compare(t, a, want(2, 12, 0))
	a.Commit("c", "c:1", &pyhost.Result{Metrics: []pyhost.Metric{metric("g", pyhost.Gauge, 3), metric("n", pyhost.Count, 1)}, Events: make([]pyhost.Event, 3)}, t0)
	compare(t, a, want(3, 13, 3))
	a.Forget("c:1") // its share of the counter goes too
	compare(t, a, want(2, 7, 0))
}

func TestTypeConflict(t *testing.T) {
	a, _, logs := newAgg(t)
	for i := 0; i < 3; i++ {
		a.Commit("c", "c:1", res(metric("x.y", pyhost.Gauge, 1)), t0)
		a.Commit("c", "c:2", res(metric("x_y", pyhost.Count, 1), metric("pyhost_check_events_total", pyhost.Count, 1)), t0)
	}
	compare(t, a, `
# HELP x_y Datadog gauge "x.y" submitted by Python checks
# TYPE x_y gauge
x_y 1
# HELP pyhost_check_events_total Events submitted by Python checks, by check
# TYPE pyhost_check_events_total counter
pyhost_check_events_total{check="c"} 0
`)
	if n := strings.Count(logs.String(), "already exposed with another type"); n != 2 {
		t.Fatalf("%d conflict logs, want 2 (one per name):\n%s", n, logs)
	}
	// The series returned by Commit are not affected.
	if got := show(a.Commit("c", "c:2", res(metric("x_y", pyhost.Count, 1)), t0)); got != "x_y count 1" {
		t.Fatalf("got %q", got)
	}
}

func TestExpiry(t *testing.T) {
	a, c, _ := newAgg(t)
	a.Commit("c", "c:1", res(metric("old", pyhost.Gauge, 1), metric("cnt", pyhost.Count, 2)), t0)
	c.add(4 * time.Minute)
	a.Commit("c", "c:1", res(metric("new", pyhost.Gauge, 1)), t0.Add(4*time.Minute))
	if n := a.Len(); n != 4 { // old, cnt, new, events
		t.Fatalf("Len = %d, want 4", n)
	}
	c.add(time.Minute) // old and cnt: 5 min without refresh
	if n := testutil.CollectAndCount(a); n != 2 {
		t.Fatalf("collected %d, want 2", n)
	}
	if n := a.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	// A counter that comes back starts over.
	a.Commit("c", "c:1", res(metric("cnt", pyhost.Count, 3)), t0.Add(5*time.Minute))
	if err := testutil.CollectAndCompare(a, strings.NewReader(`
# HELP cnt Datadog count "cnt" submitted by Python checks, summed since the agent started
# TYPE cnt counter
cnt 3
`), "cnt"); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)
	if n := a.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}

func TestExpiryOption(t *testing.T) {
	c := &clock{t: t0}
	a := New(Options{Now: c.now, Expiry: time.Second})
	a.Commit("c", "c:1", res(metric("g", pyhost.Gauge, 1)), t0)
	c.add(999 * time.Millisecond)
	if a.Len() != 2 {
		t.Fatal("expired early")
	}
	c.add(time.Millisecond)
	if a.Len() != 0 {
		t.Fatal("not expired")
	}
}

func TestForget(t *testing.T) {
	a, _, _ := newAgg(t)
	a.Commit("c", "c:1", res(metric("g1", pyhost.Gauge, 1), metric("shared", pyhost.Gauge, 1)), t0)
	a.Commit("d", "d:1", &pyhost.Result{
		Metrics:       []pyhost.Metric{metric("shared", pyhost.Gauge, 2)},
		ServiceChecks: []pyhost.ServiceCheck{{Name: "up"}},
	}, t0)
	if n := a.Len(); n != 5 { // g1, shared (once), up, two event counters
		t.Fatalf("Len = %d, want 5", n)
	}
	a.Forget("d:1")
	a.Forget("nope")
	compare(t, a, `
# HELP g1 Datadog gauge "g1" submitted by Python checks
# TYPE g1 gauge
g1 1
# HELP shared Datadog gauge "shared" submitted by Python checks
# TYPE shared gauge
shared 1
# HELP pyhost_check_events_total Events submitted by Python checks, by check
# TYPE pyhost_check_events_total counter
pyhost_check_events_total{check="c"} 0
`)
	// A forgotten instance starts over: its monotonic_count has no base.
	a.Commit("c", "c:1", res(metric("m", pyhost.MonotonicCount, 5)), t0)
	a.Forget("c:1")
	if got := a.Commit("c", "c:1", res(metric("m", pyhost.MonotonicCount, 9)), t0); len(got) != 0 {
		t.Fatalf("flushed %v after Forget", got)
	}
}

func TestServiceChecksAndEvents(t *testing.T) {
	a, _, _ := newAgg(t)
	a.Commit("web", "web:1", &pyhost.Result{
		ServiceChecks: []pyhost.ServiceCheck{
			{Name: "http.up", Status: pyhost.StatusOK, Tags: []string{"url:http://a"}},
			{Name: "http.up", Status: pyhost.StatusWarning, Tags: []string{"url:http://b"}, Hostname: "h"},
			{Name: "odd", Status: 9},
			{Name: ""},
		},
		Events: []pyhost.Event{{}, {}},
	}, t0)
	a.Commit("web", "web:2", &pyhost.Result{
		ServiceChecks: []pyhost.ServiceCheck{{Name: "http.up", Status: pyhost.StatusCritical, Tags: []string{"url:http://a"}}},
		Events:        []pyhost.Event{{}},
	}, t0)
	compare(t, a, `
# HELP pyhost_check_events_total Events submitted by Python checks, by check
# TYPE pyhost_check_events_total counter
pyhost_check_events_total{check="web"} 3
# HELP pyhost_service_check_status Status of service checks submitted by Python checks: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
# TYPE pyhost_service_check_status gauge
pyhost_service_check_status{service_check="http.up",url="http://a"} 2
pyhost_service_check_status{host="h",service_check="http.up",url="http://b"} 1
pyhost_service_check_status{service_check="odd"} 3
`)
}

func TestPartialAndNilResults(t *testing.T) {
	a, _, _ := newAgg(t)
	if got := a.Commit("c", "c:1", nil, t0); got != nil || a.Len() != 0 {
		t.Fatalf("nil result: %v, Len %d", got, a.Len())
	}
	r := res(metric("before.raise", pyhost.Gauge, 1))
	r.Error = &pyhost.PythonError{Type: "ValueError", Message: "boom"}
	if got := show(a.Commit("c", "c:1", r, t0)); got != "before.raise gauge 1" {
		t.Fatalf("got %q", got)
	}
	if a.Len() != 2 {
		t.Fatalf("Len = %d, want 2", a.Len())
	}
}

func TestNegativeCountNotAdded(t *testing.T) {
	a, _, _ := newAgg(t)
	a.Commit("c", "c:1", res(metric("n", pyhost.Count, 5)), t0)
	if got := show(a.Commit("c", "c:1", res(metric("n", pyhost.Count, -3)), t0)); got != "n count -3" {
		t.Fatalf("got %q", got)
	}
	if err := testutil.CollectAndCompare(a, strings.NewReader(`
# HELP n Datadog count "n" submitted by Python checks, summed since the agent started
# TYPE n counter
n 5
`), "n"); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrent(t *testing.T) {
	a, _, _ := newAgg(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("c:", g)
			for i := 0; i < 200; i++ {
				a.Commit("c", id, res(
					metric("g", pyhost.Gauge, float64(i), "i:"+fmt.Sprint(i%7)),
					metric("n", pyhost.Count, 1),
					metric("h", pyhost.Histogram, float64(i)),
				), t0.Add(time.Duration(i)*time.Second))
				if i%50 == 0 {
					a.Forget(id)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if _, err := reg.Gather(); err != nil {
			t.Error(err)
		}
		a.Len()
	}
	wg.Wait()
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestRemovedSeriesCompactedWithoutScrapes(t *testing.T) {
	a, c, _ := newAgg(t)
	for i := 0; i < 50; i++ {
		ms := make([]pyhost.Metric, 20)
		for j := range ms {
			ms[j] = metric(fmt.Sprintf("m%d_%d", i, j), pyhost.Gauge, 1)
		}
		c.add(10 * time.Minute) // everything committed before expires
		a.Commit("c", "c:1", res(ms...), c.now())
	}
	a.mu.Lock()
	n := len(a.series)
	a.mu.Unlock()
	if n > 200 {
		t.Fatalf("%d series kept for about 21 live ones", n)
	}
	if got := a.Len(); got != 21 {
		t.Fatalf("Len = %d, want 21", got)
	}
}

// Thousands of instances feeding one series (the same metric and tags from
// every instance of a check): each instance's share is found directly, and
// forgetting instances in any order leaves the others' shares intact.
func TestManyInstancesShareOneSeries(t *testing.T) {
	a, _, _ := newAgg(t)
	const n = 2000
	for i := range n {
		a.Commit("c", fmt.Sprintf("c:%d", i), res(metric("n", pyhost.Count, 1)), t0)
	}
	for i := range n { // each instance's share is found again, not duplicated
		a.Commit("c", fmt.Sprintf("c:%d", i), res(metric("n", pyhost.Count, 1)), t0)
	}
	want := func(count int) string {
		return fmt.Sprintf(`
# HELP n Datadog count "n" submitted by Python checks, summed since the agent started
# TYPE n counter
n %d
`, count)
	}
	compare(t, a, want(2*n), "n")
	for i := 0; i < n; i += 3 { // every third, from the front
		a.Forget(fmt.Sprintf("c:%d", i))
	}
	left := n - (n+2)/3
	compare(t, a, want(2*left), "n")
	for i := 1; i < n; i++ {
		if i%3 != 0 {
			a.Forget(fmt.Sprintf("c:%d", i))
		}
	}
	if got := len(a.shares); got != 0 {
		t.Fatalf("%d shares left after every instance was forgotten", got)
	}
	if got := a.Len(); got != 0 {
		t.Fatalf("Len = %d after every instance was forgotten", got)
	}
}

// An instance's contributions are scanned while it has a few and indexed
// past indexedShares: each is found again (not duplicated) either way,
// across growth, expiry and growth again.
func TestAnInstancesManySharesAreFoundAgain(t *testing.T) {
	a, clk, _ := newAgg(t)
	commit := func(id string, n int) {
		ms := make([]pyhost.Metric, n)
		for i := range ms {
			ms[i] = metric(fmt.Sprintf("g%02d", i), pyhost.Count, 1)
		}
		a.Commit("c", id, res(ms...), clk.now())
	}
	total := func() (sum float64) {
		for _, s := range a.series {
			if !s.removed && s.fam.name != EventsFamily {
				sum += s.value()
			}
		}
		return sum
	}
	check := func(when string, wantSeries int, wantSum float64) {
		t.Helper()
		if got := a.Len() - 1; got != wantSeries { // less the events counter
			t.Fatalf("%s: %d series, want %d", when, got, wantSeries)
		}
		if got := total(); got != wantSum {
			t.Fatalf("%s: the series sum to %g, want %g", when, got, wantSum)
		}
		for _, inst := range a.instances {
			fed := map[*expSeries]bool{}
			for _, ct := range inst.contribs {
				if fed[ct.series] {
					t.Fatalf("%s: an instance has two contributions to one series", when)
				}
				fed[ct.series] = true
			}
			if len(inst.contribs) > indexedShares {
				for _, ct := range inst.contribs {
					if a.shares[share{ct.series, inst}] != ct {
						t.Fatalf("%s: a contribution of an indexed instance is not in shares", when)
					}
				}
			}
		}
	}
	for _, n := range []int{3, indexedShares, indexedShares + 1, 20} {
		commit("a", n)
		commit("b", 2)
	}
	// a: 3+8+9+20 over g00.., b: 4 commits of 2.
	check("grown", 20, 3+8+9+20+8)
	// Two commits without samples: the samplers drop their contexts, and
	// the next samples find the contributions again through shares.
	for range 2 {
		commit("a", 0)
		commit("b", 0)
	}
	commit("a", 20)
	commit("b", 2)
	check("back", 20, 3+8+9+20+8+20+2)
	clk.add(DefaultExpiry + time.Second)
	commit("a", 0)
	commit("b", 0)
	commit("a", 20)
	commit("b", 2)
	check("back after expiry", 20, 20+2)
	clk.add(DefaultExpiry + time.Second)
	commit("a", 4) // the other 16 of a's expire, and b's 2
	check("after expiry", 4, 4*2)
	commit("a", 12) // g04 to g11 start again from 0
	check("grown again", 12, 4*3+8)
}
