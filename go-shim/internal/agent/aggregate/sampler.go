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
// include the type. Its fields are ordered to leave no padding: an agent
// keeps one per series of every instance.
type sctx struct {
	key  string
	name string
	host string
	tags []string // sorted, deduplicated, cap == len

	lastSeen uint64 // commit number of the last sample
	lastAt   int64  // run time (unix ns) of the last sample

	v      float64    // gauge value, count/counter sum, monotonic_count delta
	cur    float64    // rate / monotonic_count: current sample
	prev   float64    // rate / historate / monotonic_count: previous sample
	prevAt int64      // rate / historate: time of prev
	hist   *histState // histogram / historate only

	// Aggregator's cache: the exposition contribution of each sub-series.
	contribs []*contribution

	kind     pyhost.MetricType
	sampled  bool // got a sample in this run
	hasPrev  bool
	mSampled bool // monotonic_count: sampled since the last flush that produced a value
	mFFV     bool // monotonic_count: flush_first_value of the last sample
}

// histState is what a histogram or historate context adds.
type histState struct {
	samples []float64
	sum     float64
	names   [histSubs]string // name + suffix
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

// indexedContexts is how many contexts a sampler finds by scanning them:
// most instances have a few, and a map costs more memory than they do.
const indexedContexts = 8

// Sampler aggregates one check instance's submissions (Datadog's check
// sampler). Not goroutine-safe.
type Sampler struct {
	contexts []*sctx          // in no particular order
	byKey    map[string]*sctx // the same contexts, once there are more than indexedContexts
	commits  uint64
	own      *scratch // Commit's (the Aggregator lends its own to commit)
}

// scratch is a commit's working state, kept for the next commit's reuse:
// one per Aggregator (commits hold its lock), not one per instance.
type scratch struct {
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
	return &Sampler{}
}

// Len returns the number of contexts the sampler tracks.
func (s *Sampler) Len() int { return len(s.contexts) }

// Commit adds one run's metrics (all sampled at time at, the run's end) and
// flushes: it returns the series this run produces, sorted by name, tags and
// hostname.
func (s *Sampler) Commit(metrics []pyhost.Metric, at time.Time) []Series {
	if s.own == nil {
		s.own = &scratch{}
	}
	out := s.commit(metrics, at, s.own)
	series := make([]Series, len(out))
	for i := range out {
		series[i] = out[i].Series
	}
	return series
}

// commit aggregates and flushes; the result is valid until the next commit
// with the same scratch.
func (s *Sampler) commit(metrics []pyhost.Metric, at time.Time, w *scratch) []flushed {
	s.commits++
	now := at.UnixNano()
	w.last = nil
	for i := range metrics {
		m := &metrics[i]
		if m.Name == "" || m.Type > pyhost.Historate || math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			continue
		}
		c := s.lookup(m, w)
		c.lastSeen, c.lastAt = s.commits, now
		c.add(m, now)
	}
	w.last, w.lastTags = nil, nil

	w.out = w.out[:0]
	for i := len(s.contexts) - 1; i >= 0; i-- {
		c := s.contexts[i]
		s.flush(c, now, w)
		if c.lastSeen+expiryCommits <= s.commits &&
			(!c.stateful() || now-c.lastAt > int64(statefulTimeout)) {
			s.drop(i)
		}
	}
	slices.SortFunc(w.out, func(a, b flushed) int { return compareSeries(&a.Series, &b.Series) })
	return w.out
}

// drop forgets context i (the last one takes its place).
func (s *Sampler) drop(i int) {
	c, last := s.contexts[i], len(s.contexts)-1
	s.contexts[i] = s.contexts[last]
	s.contexts[last] = nil
	s.contexts = s.contexts[:last]
	if s.byKey != nil {
		delete(s.byKey, c.key)
	}
}

// find is the context of key, or nil.
func (s *Sampler) find(key []byte) *sctx {
	if s.byKey != nil {
		return s.byKey[string(key)]
	}
	for _, c := range s.contexts {
		if c.key == string(key) {
			return c
		}
	}
	return nil
}

// add keeps a new context.
func (s *Sampler) add(c *sctx) {
	s.contexts = append(s.contexts, c)
	switch {
	case s.byKey != nil:
		s.byKey[c.key] = c
	case len(s.contexts) > indexedContexts:
		s.byKey = make(map[string]*sctx, len(s.contexts))
		for _, c := range s.contexts {
			s.byKey[c.key] = c
		}
	}
}

// lookup finds or creates the context of m.
func (s *Sampler) lookup(m *pyhost.Metric, w *scratch) *sctx {
	if w.last != nil && m.Name == w.lastName && m.Hostname == w.lastHost && sameSlice(m.Tags, w.lastTags) {
		return w.last
	}
	tags := m.Tags
	if !sortedUnique(tags) {
		w.tagBuf = append(w.tagBuf[:0], tags...)
		slices.Sort(w.tagBuf)
		tags = slices.Compact(w.tagBuf)
	}
	b := append(w.keyBuf[:0], m.Name...)
	b = append(b, 0)
	b = append(b, m.Hostname...)
	for _, t := range tags {
		b = append(b, 0)
		b = append(b, t...)
	}
	w.keyBuf = b
	c := s.find(b)
	if c == nil {
		c = &sctx{key: string(b), name: m.Name, host: m.Hostname, kind: m.Type, tags: noTags}
		if len(tags) > 0 {
			c.tags = slices.Clip(slices.Clone(tags))
		}
		if m.Type == pyhost.Histogram || m.Type == pyhost.Historate {
			c.hist = &histState{}
			for i, suf := range histSuffixes {
				c.hist.names[i] = m.Name + suf
			}
		}
		s.add(c)
	}
	w.last, w.lastName, w.lastHost, w.lastTags = c, m.Name, m.Hostname, m.Tags
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
		c.hist.samples = append(c.hist.samples, v)
		c.hist.sum += v
	case pyhost.Historate:
		if c.hasPrev && now > c.prevAt {
			r := (v - c.prev) / (float64(now-c.prevAt) / 1e9)
			c.hist.samples = append(c.hist.samples, r)
			c.hist.sum += r
		}
		c.prev, c.prevAt, c.hasPrev = v, now, true
	}
}

// flush appends c's series for this run to w.out and resets the run's state.
func (s *Sampler) flush(c *sctx, now int64, w *scratch) {
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
		w.emit(c, 0, c.name, t, c.v)
		c.v, c.sampled = 0, false
	case pyhost.Rate:
		if !c.sampled {
			return
		}
		if c.hasPrev && now > c.prevAt {
			if r := (c.cur - c.prev) / (float64(now-c.prevAt) / 1e9); r >= 0 {
				w.emit(c, 0, c.name, SeriesGauge, r)
			}
		}
		c.prev, c.prevAt, c.hasPrev = c.cur, now, true
		c.sampled = false
	case pyhost.MonotonicCount:
		if !c.mSampled || !(c.hasPrev || c.mFFV) {
			return
		}
		w.emit(c, 0, c.name, SeriesCount, c.v)
		c.prev, c.cur, c.v = c.cur, 0, 0
		c.hasPrev, c.mSampled, c.mFFV = true, false, false
	case pyhost.Histogram, pyhost.Historate:
		h := c.hist
		n := len(h.samples)
		if n == 0 {
			return
		}
		slices.Sort(h.samples)
		w.emit(c, histMax, h.names[histMax], SeriesGauge, h.samples[n-1])
		w.emit(c, histMedian, h.names[histMedian], SeriesGauge, h.samples[(n-1)/2])
		w.emit(c, histAvg, h.names[histAvg], SeriesGauge, h.sum/float64(n))
		w.emit(c, histCount, h.names[histCount], SeriesRate, float64(n))
		w.emit(c, histP95, h.names[histP95], SeriesGauge, h.samples[(histPercentile*n-1)/100])
		h.samples, h.sum = h.samples[:0], 0
	}
}

func (w *scratch) emit(c *sctx, sub uint8, name string, t SeriesType, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	w.out = append(w.out, flushed{
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
