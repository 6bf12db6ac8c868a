package pyhost

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"pyhost.dev/pyhost/internal/capi"
)

// batch builds a batch by hand, as the engine encodes it.
type batch []byte

func newBatch(metrics, tags uint32) batch {
	b := binary.LittleEndian.AppendUint32(nil, capi.BatchMagic)
	b = binary.LittleEndian.AppendUint32(b, metrics)
	return binary.LittleEndian.AppendUint32(b, tags)
}

func (b batch) u32(v uint32) batch { return binary.LittleEndian.AppendUint32(b, v) }
func (b batch) str(s string) batch { return append(b.u32(uint32(len(s))), s...) }
func (b batch) f64(v float64) batch {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}
func (b batch) metric(mtype byte, value float64, name, host string, tags []string, sameName, sameHost, sameTags bool) batch {
	b = append(b, capi.BatchMetric, mtype, 0)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(value))
	if sameName {
		b = b.u32(capi.BatchSame)
	} else {
		b = b.str(name)
	}
	if sameHost {
		b = b.u32(capi.BatchSame)
	} else {
		b = b.str(host)
	}
	if sameTags {
		return b.u32(capi.BatchSame)
	}
	b = b.u32(uint32(len(tags)))
	for _, t := range tags {
		b = b.str(t)
	}
	return b
}

func TestDecodeBatchRepeatsAndRecords(t *testing.T) {
	b := newBatch(3, 3).
		metric(0, 1.5, "cpu", "h", []string{"a:1", "b:2"}, false, false, false).
		metric(2, 2, "", "", nil, true, true, true).     // fast path
		metric(1, 3, "mem", "", nil, false, true, false) // new name, same host, no tags
	b = append(b, capi.BatchWarning)
	b = b.str("careful")
	b = append(b, capi.BatchError)
	b = b.str("ValueError").str("bad").str("Traceback...")
	res, err := decodeNew(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Metrics) != 3 {
		t.Fatalf("metrics = %+v", res.Metrics)
	}
	m0, m1, m2 := res.Metrics[0], res.Metrics[1], res.Metrics[2]
	if m1.Name != "cpu" || m1.Hostname != "h" || m1.Type != Count || m1.Value != 2 || len(m1.Tags) != 2 || m1.Tags[1] != "b:2" {
		t.Errorf("repeated metric = %+v", m1)
	}
	if m0.Value != 1.5 || m2.Name != "mem" || m2.Hostname != "h" || m2.Tags != nil || m2.Type != Rate {
		t.Errorf("metrics = %+v / %+v", m0, m2)
	}
	if len(res.Warnings) != 1 || res.Error == nil || res.Error.Type != "ValueError" || res.Error.Traceback != "Traceback..." {
		t.Errorf("records = %+v", res)
	}
}

func TestDecodeBatchRejectsMalformedInput(t *testing.T) {
	good := newBatch(1, 1).metric(0, 1, "cpu", "", []string{"a"}, false, false, false)
	for cut := 1; cut < len(good); cut++ {
		if _, err := decodeNew(good[:cut]); !errors.Is(err, errBadBatch) {
			t.Fatalf("truncated at %d: err = %v", cut, err)
		}
	}
	if _, err := decodeNew(append(newBatch(0, 0), 99)); !errors.Is(err, errBadBatch) {
		t.Errorf("unknown record kind: %v", err)
	}
	if _, err := decodeNew([]byte("nope-nope-nope")); !errors.Is(err, errBadBatch) {
		t.Errorf("bad magic: %v", err)
	}
	// A tag count far beyond the data.
	huge := append(newBatch(1, 1), capi.BatchMetric, 0, 0)
	huge = binary.LittleEndian.AppendUint64(huge, 0)
	huge = huge.str("n").str("").u32(1 << 30)
	if _, err := decodeNew(huge); !errors.Is(err, errBadBatch) {
		t.Errorf("oversized tag count: %v", err)
	}
}

func TestDecodeBatchDatadogRecords(t *testing.T) {
	b := newBatch(0, 0)
	b = append(b, capi.BatchHistBucket)
	b = b.str("http.latency").f64(7).f64(0.5).f64(math.Inf(1))
	b = append(b, 1)
	b = b.str("web1").u32(2).str("env:prod").str("le:+Inf")
	b = append(b, 0)
	b = append(b, capi.BatchPlatformEvt)
	b = b.str("dbm-samples").str(`{"query":"SELECT 1"}`)
	b = append(b, capi.BatchMetadata)
	b = b.str("version.raw").str("1.2.3")
	b = append(b, capi.BatchExternalTags)
	b = b.str(`[["web1",{"vsphere":["a:b"]}]]`)
	b = append(b, capi.BatchExternalTags)
	b = b.str(`not json`)
	res, err := decodeNew(b)
	if err != nil {
		t.Fatal(err)
	}
	want := HistogramBucket{Name: "http.latency", Value: 7, LowerBound: 0.5, UpperBound: math.Inf(1), Monotonic: true,
		Hostname: "web1", Tags: []string{"env:prod", "le:+Inf"}}
	if len(res.HistogramBuckets) != 1 || !reflect.DeepEqual(res.HistogramBuckets[0], want) {
		t.Errorf("buckets = %+v", res.HistogramBuckets)
	}
	js, err := json.Marshal(res.HistogramBuckets[0])
	if err != nil || !strings.Contains(string(js), `"upper_bound":"+Inf"`) || !strings.Contains(string(js), `"lower_bound":0.5`) {
		t.Errorf("bucket JSON = %s, %v", js, err)
	}
	if len(res.PlatformEvents) != 1 || res.PlatformEvents[0] != (PlatformEvent{"dbm-samples", `{"query":"SELECT 1"}`}) {
		t.Errorf("platform events = %+v", res.PlatformEvents)
	}
	if len(res.Metadata) != 1 || res.Metadata[0] != (Metadata{"version.raw", "1.2.3"}) {
		t.Errorf("metadata = %+v", res.Metadata)
	}
	if len(res.ExternalTags) != 1 || string(res.ExternalTags[0]) != `[["web1",{"vsphere":["a:b"]}]]` ||
		len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "external tags dropped") {
		t.Errorf("external tags = %s, warnings %q", res.ExternalTags, res.Warnings)
	}
	// Truncated inside a bucket: rejected, never half-decoded.
	if _, err := decodeNew(b[:30]); err == nil {
		t.Error("truncated bucket accepted")
	}
}

// decodeNew decodes a batch into a fresh Result.
func decodeNew(b []byte) (*Result, error) {
	res := &Result{}
	return res, decodeBatch(b, res)
}
