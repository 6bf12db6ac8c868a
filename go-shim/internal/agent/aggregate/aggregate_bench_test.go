package aggregate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"pyhost.dev/pyhost"
)

const (
	benchInstances = 1000
	benchNames     = 100
)

func benchScrape(b *testing.B, reg *prometheus.Registry) {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}

// BenchmarkScrape100k serves 100,000 gauge series (1,000 instances × 100
// names, 2 tags each) from an Aggregator.
func BenchmarkScrape100k(b *testing.B) {
	a := New(Options{Expiry: time.Hour})
	names := make([]string, benchNames)
	for n := range names {
		names[n] = fmt.Sprintf("bench.metric.%d", n)
	}
	for i := 0; i < benchInstances; i++ {
		tags := []string{"env:prod", fmt.Sprintf("instance:i%d", i)}
		ms := make([]pyhost.Metric, benchNames)
		for n := range ms {
			ms[n] = pyhost.Metric{Name: names[n], Type: pyhost.Gauge, Value: float64(i*benchNames + n), Tags: tags}
		}
		a.Commit("bench", fmt.Sprint("bench:", i), &pyhost.Result{Metrics: ms}, time.Now())
	}
	// The gauges plus one pyhost_check_events_total{check="bench"}.
	if n := a.Len(); n != benchInstances*benchNames+1 {
		b.Fatalf("Len = %d", n)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(a)
	benchScrape(b, reg)
}

// BenchmarkScrape100kFloor serves the same 100,000 series from plain
// client_golang GaugeVecs.
func BenchmarkScrape100kFloor(b *testing.B) {
	reg := prometheus.NewRegistry()
	for n := 0; n < benchNames; n++ {
		name := fmt.Sprintf("bench.metric.%d", n)
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricName(name),
			Help: fmt.Sprintf("Datadog gauge %q submitted by Python checks", name),
		}, []string{"env", "instance"})
		for i := 0; i < benchInstances; i++ {
			v.WithLabelValues("prod", fmt.Sprintf("i%d", i)).Set(float64(i*benchNames + n))
		}
		reg.MustRegister(v)
	}
	benchScrape(b, reg)
}

// BenchmarkCommit commits one run of 1,000 gauges (2 tags each) of one
// instance, already known to the Aggregator.
func BenchmarkCommit(b *testing.B) {
	a := New(Options{})
	ms := make([]pyhost.Metric, 1000)
	tags := []string{"env:prod", "role:db"}
	for n := range ms {
		ms[n] = pyhost.Metric{Name: fmt.Sprintf("bench.metric.%d", n), Type: pyhost.Gauge, Value: float64(n), Tags: tags}
	}
	res := &pyhost.Result{Metrics: ms}
	a.Commit("bench", "bench:1", res, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		a.Commit("bench", "bench:1", res, time.Now())
	}
}
