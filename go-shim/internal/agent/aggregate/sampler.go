package aggregate

import (
	"math"
	"slices"
	"time"

	"pyhost.dev/pyhost"
)

const (
	// A context without samples is dropped at the second commit without
	// samples (Datadog's check_sampler_bucket_commits_count_expiry).
	expiryCommits = 2
	// Stateful contexts (rate, monotonic_count, historate) keep their state
	// this long after their last sample (Datadog's
	// check_sampler_stateful_metric_expiration_time).
	statefulTimeout = 25 * time.Hour
	// The percentile flushed for histograms (Datadog's histogram_percentiles).
	histPercentile = 95
)

// Histogram sub-series, in Datadog's flush order (histogram_aggregates, then
// percentiles).
const (
	histMax = iota
	histMedian
	histAvg
	histCount
	histP95
	histSubs
)

var histSuffixes = [histSubs]string{".max", ".median", ".avg", ".count", ".95percentile"}

// sctx is one context (name, sorted tags, hostname) and its aggregation state.
// Its kind is the type of its first sample, as Datadog's context key does not
// include the type.
type sctx struct {
	key  string
	name string
	host string
	tags []string // sorted, deduplicated, cap == len
	kind pyhost.MetricType

	lastSeen uint64 // commit number of the last sample
	lastAt   int64  // run time (unix ns) of the last sample

	sampled  bool    // got a sample in this run
	v        float64 // gauge value, count/counter sum, monotonic_count delta
	cur      float64 // rate / monotonic_count: current sample
	prev     float64 // rate / historate / monotonic_count: previous sample
	prevAt   int64   // rate / historate: time of prev
	hasPrev  bool
	mSampled bool // monotonic_count: sampled since the last flush that produced a value
	mFFV     bool // monotonic_count: flush_first_value of the last sample
	hist     []float64
	histSum  float64
	names    []string // histogram / historate: name + suffix

	// Aggregator's cache: the exposition contribution of each sub-series.
	contribs []*contribution
}

func (c *sctx) stateful() bool {
	switch c.kind {
	case pyhost.Rate, pyhost.MonotonicCount, pyhost.Historate:
		return true
	}
	return false
}

// flushed is a Series with the context and sub-series it came from.
type flushed struct {
	Series
	ctx *sctx
	sub uint8
}

// Sampler aggregates one check instance's submissions (Datadog's check
// sampler). Not goroutine-safe.
type Sampler struct {
	contexts map[string]*sctx
	commits  uint64

	// The previous metric of this commit and its context: the engine's
	// decoder shares one tag slice between consecutive metrics.
	last     *sctx
	lastName string
	lastHost string
	lastTags []string

	keyBuf []byte
	tagBuf []string
	out    []flushed
}

// NewSampler returns an empty sampler.
func NewSampler() *Sampler {
	return &Sampler{contexts: make(map[string]*sctx)}
}

// Len returns the number of contexts the sampler tracks.
func (s *Sampler) Len() int { return len(s.contexts) }

// Commit adds one run's metrics (all sampled at time at, the run's end) and
// flushes: it returns the series this run produces, sorted by name, tags and
// hostname.
func (s *Sampler) Commit(metrics []pyhost.Metric, at time.Time) []Series {
	out := s.commit(metrics, at)
	series := make([]Series, len(out))
	for i := range out {
		series[i] = out[i].Series
	}
	return series
}

// commit aggregates and flushes; the result is valid until the next commit.
func (s *Sampler) commit(metrics []pyhost.Metric, at time.Time) []flushed {
	s.commits++
	now := at.UnixNano()
	s.last = nil
	for i := range metrics {
		m := &metrics[i]
		if m.Name == "" || m.Type > pyhost.Historate || math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			continue
		}
		c := s.lookup(m)
		c.lastSeen, c.lastAt = s.commits, now
		c.add(m, now)
	}
	s.last, s.lastTags = nil, nil

	s.out = s.out[:0]
	for key, c := range s.contexts {
		s.flush(c, now)
		if c.lastSeen+expiryCommits <= s.commits &&
			(!c.stateful() || now-c.lastAt > int64(statefulTimeout)) {
			delete(s.contexts, key)
		}
	}
	slices.SortFunc(s.out, func(a, b flushed) int { return compareSeries(&a.Series, &b.Series) })
	return s.out
}

// lookup finds or creates the context of m.
func (s *Sampler) lookup(m *pyhost.Metric) *sctx {
	if s.last != nil && m.Name == s.lastName && m.Hostname == s.lastHost && sameSlice(m.Tags, s.lastTags) {
		return s.last
	}
	tags := m.Tags
	if !sortedUnique(tags) {
		s.tagBuf = append(s.tagBuf[:0], tags...)
		slices.Sort(s.tagBuf)
		tags = slices.Compact(s.tagBuf)
	}
	b := append(s.keyBuf[:0], m.Name...)
	b = append(b, 0)
	b = append(b, m.Hostname...)
	for _, t := range tags {
		b = append(b, 0)
		b = append(b, t...)
	}
	s.keyBuf = b
	c, ok := s.contexts[string(b)]
	if !ok {
		c = &sctx{key: string(b), name: m.Name, host: m.Hostname, kind: m.Type, tags: noTags}
		if len(tags) > 0 {
			c.tags = slices.Clip(slices.Clone(tags))
		}
		if m.Type == pyhost.Histogram || m.Type == pyhost.Historate {
			c.names = make([]string, histSubs)
			for i, suf := range histSuffixes {
				c.names[i] = m.Name + suf
			}
		}
		s.contexts[c.key] = c
	}
	s.last, s.lastName, s.lastHost, s.lastTags = c, m.Name, m.Hostname, m.Tags
	return c
}

// add adds one sample taken at time now (unix ns).
func (c *sctx) add(m *pyhost.Metric, now int64) {
	v := m.Value
	switch c.kind {
	case pyhost.Gauge:
		c.v, c.sampled = v, true
	case pyhost.Count, pyhost.Counter:
		c.v += v
		c.sampled = true
	case pyhost.Rate:
		c.cur, c.sampled = v, true
	case pyhost.MonotonicCount:
		if !c.mSampled {
			c.cur, c.mSampled = v, true
		} else {
			c.prev, c.cur = c.cur, v
			c.hasPrev = true
		}
		c.mFFV = m.FlushFirstValue
		if diff := c.cur - c.prev; (c.hasPrev || c.mFFV) && diff >= 0 {
			c.v += diff
		} else if c.mFFV {
			// A reset: the counter restarted from 0, so its value is the increase.
			c.v += c.cur
		}
	case pyhost.Histogram:
		c.hist = append(c.hist, v)
		c.histSum += v
	case pyhost.Historate:
		if c.hasPrev && now > c.prevAt {
			r := (v - c.prev) / (float64(now-c.prevAt) / 1e9)
			c.hist = append(c.hist, r)
			c.histSum += r
		}
		c.prev, c.prevAt, c.hasPrev = v, now, true
	}
}

// flush appends c's series for this run to s.out and resets the run's state.
func (s *Sampler) flush(c *sctx, now int64) {
	switch c.kind {
	case pyhost.Gauge, pyhost.Count, pyhost.Counter:
		if !c.sampled {
			return
		}
		t := SeriesGauge
		switch c.kind {
		case pyhost.Count:
			t = SeriesCount
		case pyhost.Counter:
			t = SeriesRate // a check's counter: the sum per 1 s interval, flushed as a rate
		}
		s.emit(c, 0, c.name, t, c.v)
		c.v, c.sampled = 0, false
	case pyhost.Rate:
		if !c.sampled {
			return
		}
		if c.hasPrev && now > c.prevAt {
			if r := (c.cur - c.prev) / (float64(now-c.prevAt) / 1e9); r >= 0 {
				s.emit(c, 0, c.name, SeriesGauge, r)
			}
		}
		c.prev, c.prevAt, c.hasPrev = c.cur, now, true
		c.sampled = false
	case pyhost.MonotonicCount:
		if !c.mSampled || !(c.hasPrev || c.mFFV) {
			return
		}
		s.emit(c, 0, c.name, SeriesCount, c.v)
		c.prev, c.cur, c.v = c.cur, 0, 0
		c.hasPrev, c.mSampled, c.mFFV = true, false, false
	case pyhost.Histogram, pyhost.Historate:
		n := len(c.hist)
		if n == 0 {
			return
		}
		slices.Sort(c.hist)
		s.emit(c, histMax, c.names[histMax], SeriesGauge, c.hist[n-1])
		s.emit(c, histMedian, c.names[histMedian], SeriesGauge, c.hist[(n-1)/2])
		s.emit(c, histAvg, c.names[histAvg], SeriesGauge, c.histSum/float64(n))
		s.emit(c, histCount, c.names[histCount], SeriesRate, float64(n))
		s.emit(c, histP95, c.names[histP95], SeriesGauge, c.hist[(histPercentile*n-1)/100])
		c.hist, c.histSum = c.hist[:0], 0
	}
}

func (s *Sampler) emit(c *sctx, sub uint8, name string, t SeriesType, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	s.out = append(s.out, flushed{
		Series: Series{Name: name, Type: t, Value: v, Tags: c.tags, Hostname: c.host},
		ctx:    c,
		sub:    sub,
	})
}

func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func sortedUnique(tags []string) bool {
	for i := 1; i < len(tags); i++ {
		if tags[i-1] >= tags[i] {
			return false
		}
	}
	return true
}
