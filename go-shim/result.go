package pyhost

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"pyhost.dev/pyhost/internal/capi"
)

// MetricType is the Datadog metric type a check submitted.
type MetricType uint8

// Metric types, numbered as the aggregator module's constants.
const (
	Gauge MetricType = iota
	Rate
	Count
	MonotonicCount
	Counter
	Histogram
	Historate
)

var metricTypeNames = [...]string{"gauge", "rate", "count", "monotonic_count", "counter", "histogram", "historate"}

func (t MetricType) String() string {
	if int(t) < len(metricTypeNames) {
		return metricTypeNames[t]
	}
	return fmt.Sprintf("metric_type(%d)", t)
}

// MarshalText writes the type's name.
func (t MetricType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Metric is one submitted sample.
type Metric struct {
	Name            string     `json:"name"`
	Type            MetricType `json:"type"`
	Value           float64    `json:"value"`
	Tags            []string   `json:"tags"`
	Hostname        string     `json:"hostname"`
	FlushFirstValue bool       `json:"flush_first_value,omitempty"`
}

// ServiceCheckStatus is OK, Warning, Critical or Unknown.
type ServiceCheckStatus uint8

// Service check statuses, numbered as AgentCheck.OK… .
const (
	StatusOK ServiceCheckStatus = iota
	StatusWarning
	StatusCritical
	StatusUnknown
)

func (s ServiceCheckStatus) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusWarning:
		return "WARNING"
	case StatusCritical:
		return "CRITICAL"
	case StatusUnknown:
		return "UNKNOWN"
	}
	return fmt.Sprintf("status(%d)", s)
}

// ServiceCheck is one submitted service check.
type ServiceCheck struct {
	Name     string             `json:"name"`
	Status   ServiceCheckStatus `json:"status"`
	Tags     []string           `json:"tags"`
	Hostname string             `json:"hostname"`
	Message  string             `json:"message"`
}

// Event is one submitted event, with the Datadog event fields.
type Event struct {
	Timestamp      int64    `json:"timestamp,omitempty"`
	EventType      string   `json:"event_type,omitempty"`
	Title          string   `json:"msg_title,omitempty"`
	Text           string   `json:"msg_text,omitempty"`
	AggregationKey string   `json:"aggregation_key,omitempty"`
	AlertType      string   `json:"alert_type,omitempty"`
	SourceTypeName string   `json:"source_type_name,omitempty"`
	Host           string   `json:"host,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	Priority       string   `json:"priority,omitempty"`
}

// HistogramBucket is one bucket of a histogram a check read as buckets
// (aggregator.submit_histogram_bucket, e.g. from an OpenMetrics endpoint).
type HistogramBucket struct {
	Name            string   `json:"name"`
	Value           float64  `json:"value"` // the bucket's count
	LowerBound      float64  `json:"lower_bound"`
	UpperBound      float64  `json:"upper_bound"`
	Monotonic       bool     `json:"monotonic"`
	Hostname        string   `json:"hostname"`
	Tags            []string `json:"tags"`
	FlushFirstValue bool     `json:"flush_first_value"`
}

// MarshalJSON writes infinite bounds as "+Inf" / "-Inf", which JSON numbers
// cannot hold.
func (b HistogramBucket) MarshalJSON() ([]byte, error) {
	type plain HistogramBucket
	bound := func(v float64) any {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
		return v
	}
	tags := b.Tags
	if tags == nil {
		tags = []string{}
	}
	return json.Marshal(struct {
		plain
		LowerBound any      `json:"lower_bound"`
		UpperBound any      `json:"upper_bound"`
		Tags       []string `json:"tags"`
	}{plain(b), bound(b.LowerBound), bound(b.UpperBound), tags})
}

// PlatformEvent is an event for the Datadog event platform
// (aggregator.submit_event_platform_event), e.g. database monitoring samples.
type PlatformEvent struct {
	EventType string `json:"event_type"`
	RawEvent  string `json:"raw_event"`
}

// Metadata is one value a check set with set_metadata (e.g. "version").
type Metadata struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Result is everything one check run produced, in submission order.
type Result struct {
	Metrics          []Metric
	ServiceChecks    []ServiceCheck
	Events           []Event
	HistogramBuckets []HistogramBucket
	PlatformEvents   []PlatformEvent
	Metadata         []Metadata
	// ExternalTags are datadog_agent.set_external_tags calls, each the JSON
	// list [[hostname, {source_type: [tags]}], ...] the check passed.
	ExternalTags []json.RawMessage
	Warnings     []string
	// Error is the exception the check raised, if any (also returned by Run).
	Error *PythonError
	// Cancelled is true when the run was stopped by a cancellation.
	Cancelled bool
	Duration  time.Duration
	// Usage is what the run cost (see Usage); zero when accounting is off.
	Usage Usage

	// Kept between runs by Check.RunInto: one backing array for the
	// metrics' tags, and the batch's strings.
	tagStore []string
	intern   map[string]string
}

// reset empties r for a new run, keeping the capacity of its slices.
func (r *Result) reset() {
	*r = Result{
		Metrics:          r.Metrics[:0],
		ServiceChecks:    r.ServiceChecks[:0],
		Events:           r.Events[:0],
		HistogramBuckets: r.HistogramBuckets[:0],
		PlatformEvents:   r.PlatformEvents[:0],
		Metadata:         r.Metadata[:0],
		ExternalTags:     r.ExternalTags[:0],
		Warnings:         r.Warnings[:0],
		tagStore:         r.tagStore[:0],
		intern:           r.intern,
	}
	clear(r.intern)
}

var errBadBatch = errors.New("pyhost: malformed batch from the engine")

// batchReader decodes the engine's batch (format: rust-core/abi/src/batch.rs).
// A metric's name, hostname and tag list may be "the same as the previous
// metric's" (capi.BatchSame); other strings are made once per batch.
type batchReader struct {
	b      []byte
	err    error
	intern map[string]string

	prevName, prevHost string
	prevTags           []string
	tagStore           []string // one backing array for the batch's tags
}

func (r *batchReader) u8() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errBadBatch
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *batchReader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errBadBatch
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *batchReader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errBadBatch
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *batchReader) f64() float64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errBadBatch
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *batchReader) raw() []byte {
	n := int(r.u32())
	if r.err != nil || len(r.b) < n {
		r.err = errBadBatch
		return nil
	}
	raw := r.b[:n:n]
	r.b = r.b[n:]
	return raw
}

func (r *batchReader) str() string {
	raw := r.raw()
	if r.err != nil {
		return ""
	}
	if s, ok := r.intern[string(raw)]; ok { // no allocation for the lookup
		return s
	}
	s := string(raw)
	r.intern[s] = s
	return s
}

// repeatable reads a metric's name or hostname.
func (r *batchReader) repeatable(prev *string) string {
	if len(r.b) >= 4 && binary.LittleEndian.Uint32(r.b) == capi.BatchSame {
		r.b = r.b[4:]
		return *prev
	}
	*prev = r.str()
	return *prev
}

// metricTags reads a metric's tag list; a repeated list shares the previous
// metric's slice.
func (r *batchReader) metricTags() []string {
	n := r.u32()
	if n == capi.BatchSame {
		return r.prevTags
	}
	if r.err != nil || int(n) > len(r.b)/4 {
		r.err = errBadBatch
		return nil
	}
	if n == 0 {
		r.prevTags = nil
		return nil
	}
	from := len(r.tagStore)
	for i := uint32(0); i < n; i++ {
		r.tagStore = append(r.tagStore, r.str())
	}
	r.prevTags = r.tagStore[from:len(r.tagStore):len(r.tagStore)]
	return r.prevTags
}

func (r *batchReader) tags() []string {
	n := int(r.u32())
	if r.err != nil || n > len(r.b)/4 {
		r.err = errBadBatch
		return nil
	}
	if n == 0 {
		return nil
	}
	tags := make([]string, n)
	for i := range tags {
		tags[i] = r.str()
	}
	return tags
}

// decodeBatch copies a batch into res, which must be empty (new, or reset:
// its slices' capacity is reused). Tag slices may be shared between metrics
// of one Result: treat them as read-only.
func decodeBatch(b []byte, res *Result) error {
	if len(b) == 0 {
		return nil
	}
	r := &batchReader{b: b}
	if r.u32() != capi.BatchMagic {
		return errBadBatch
	}
	metrics, metricTags := int(r.u32()), int(r.u32())
	if r.err != nil || metrics > len(b) || metricTags > len(b) {
		return errBadBatch
	}
	if res.intern == nil {
		// Sized for the batch: a small run's map costs little, a large
		// run's does not regrow (RunInto keeps it from run to run).
		res.intern = make(map[string]string, min(metrics+metricTags, 64))
	}
	r.intern = res.intern
	if cap(res.Metrics) < metrics {
		res.Metrics = make([]Metric, 0, metrics)
	}
	if cap(res.tagStore) < metricTags {
		res.tagStore = make([]string, 0, metricTags)
	}
	r.tagStore = res.tagStore
	defer func() { res.tagStore = r.tagStore[:0] }()
	for r.err == nil && len(r.b) > 0 {
		switch kind := r.u8(); kind {
		case capi.BatchMetric:
			// Fast path: the usual metric repeats the previous one's name,
			// hostname and tags, so it is fixed-size (22 bytes after the kind).
			if b := r.b; len(b) >= 22 &&
				binary.LittleEndian.Uint32(b[10:]) == capi.BatchSame && // name
				binary.LittleEndian.Uint32(b[14:]) == capi.BatchSame && // hostname
				binary.LittleEndian.Uint32(b[18:]) == capi.BatchSame { // tags
				res.Metrics = append(res.Metrics, Metric{
					Type:            MetricType(b[0]),
					FlushFirstValue: b[1] != 0,
					Value:           math.Float64frombits(binary.LittleEndian.Uint64(b[2:])),
					Name:            r.prevName,
					Hostname:        r.prevHost,
					Tags:            r.prevTags,
				})
				r.b = b[22:]
				continue
			}
			m := Metric{Type: MetricType(r.u8())}
			m.FlushFirstValue = r.u8() != 0
			m.Value = r.f64()
			m.Name = r.repeatable(&r.prevName)
			m.Hostname = r.repeatable(&r.prevHost)
			m.Tags = r.metricTags()
			res.Metrics = append(res.Metrics, m)
		case capi.BatchServiceCheck:
			sc := ServiceCheck{Status: ServiceCheckStatus(r.u8())}
			sc.Name = r.str()
			sc.Hostname = r.str()
			sc.Message = r.str()
			sc.Tags = r.tags()
			res.ServiceChecks = append(res.ServiceChecks, sc)
		case capi.BatchEvent:
			var ev Event
			if raw := r.str(); r.err == nil {
				if err := json.Unmarshal([]byte(raw), &ev); err != nil {
					res.Warnings = append(res.Warnings, "event dropped: "+err.Error())
					continue
				}
				res.Events = append(res.Events, ev)
			}
		case capi.BatchWarning:
			res.Warnings = append(res.Warnings, r.str())
		case capi.BatchError:
			e := &PythonError{Type: r.str()}
			e.Message = r.str()
			e.Traceback = r.str()
			if res.Error == nil {
				res.Error = e
			}
		case capi.BatchCancelled:
			res.Cancelled = true
		case capi.BatchHistBucket:
			hb := HistogramBucket{Name: r.str()}
			hb.Value = r.f64()
			hb.LowerBound = r.f64()
			hb.UpperBound = r.f64()
			hb.Monotonic = r.u8() != 0
			hb.Hostname = r.str()
			hb.Tags = r.tags()
			hb.FlushFirstValue = r.u8() != 0
			res.HistogramBuckets = append(res.HistogramBuckets, hb)
		case capi.BatchPlatformEvt:
			pe := PlatformEvent{EventType: r.str()}
			pe.RawEvent = r.str()
			res.PlatformEvents = append(res.PlatformEvents, pe)
		case capi.BatchMetadata:
			md := Metadata{Name: r.str()}
			md.Value = r.str()
			res.Metadata = append(res.Metadata, md)
		case capi.BatchUsage:
			u := &res.Usage
			flags := r.u8()
			u.Measured = true
			u.CPUExact = flags&capi.UsageCPUExact != 0
			u.Memory = flags&capi.UsageMemory != 0
			u.Wall = time.Duration(r.u64())
			u.CPU = time.Duration(r.u64())
			u.GILWait = time.Duration(r.u64())
			u.Allocated = r.u64()
			u.Retained = r.u64()
		case capi.BatchExternalTags:
			if raw := r.str(); r.err == nil {
				if !json.Valid([]byte(raw)) {
					res.Warnings = append(res.Warnings, "external tags dropped: not JSON")
					continue
				}
				res.ExternalTags = append(res.ExternalTags, json.RawMessage(raw))
			}
		default:
			return fmt.Errorf("%w: unknown record kind %d", errBadBatch, kind)
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(res.Metrics) != metrics {
		return fmt.Errorf("%w: %d metrics, the header says %d", errBadBatch, len(res.Metrics), metrics)
	}
	return nil
}
