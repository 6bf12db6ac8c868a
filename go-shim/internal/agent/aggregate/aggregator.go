package aggregate

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"pyhost.dev/pyhost"
)

// DefaultExpiry is Options.Expiry's default.
const DefaultExpiry = 5 * time.Minute

// Names of the families that do not come from submitted metrics.
const (
	ServiceCheckFamily = "pyhost_service_check_status"
	EventsFamily       = "pyhost_check_events_total"
)

const (
	serviceCheckHelp = "Status of service checks submitted by Python checks: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"
	eventsHelp       = "Events submitted by Python checks, by check"
)

// Options configures an Aggregator.
type Options struct {
	// Expiry: a series or service check not refreshed for this long is
	// dropped from Collect (default DefaultExpiry).
	Expiry time.Duration
	// Now is the clock used for expiry (default time.Now).
	Now func() time.Time
	// Logger, if set, gets one warning per Prometheus name submitted with two
	// types.
	Logger *slog.Logger
}

// Aggregator holds every check instance's Sampler and the exposition state.
// It is goroutine-safe and implements prometheus.Collector (unchecked: its
// Describe sends nothing).
type Aggregator struct {
	mu     sync.Mutex
	expiry int64
	now    func() time.Time
	log    *slog.Logger

	instances map[string]*instance
	families  map[string]*family
	index     map[string]*expSeries // by name and labels
	// shares finds an instance's contribution to a series, for instances
	// with more than indexedShares of them (fewer are scanned): a series fed
	// by thousands of instances (the same metric and tags from every
	// instance of a check) must not be scanned for each new contribution,
	// and an instance with a few series should not pay for a map entry.
	shares map[share]*contribution
	// series in exposition order (see compareExposed) when sorted is true;
	// removed series stay until the next compact.
	series    []*expSeries
	sorted    bool
	dead      int
	seq       uint64
	conflicts map[string]struct{}

	labelBuf []labelPair
	keyBuf   []byte
	scratch  scratch // the samplers' (commits hold mu)
}

// instance is one check instance (check id).
type instance struct {
	name     string
	sampler  Sampler
	contribs []*contribution
	events   *contribution
}

// family is one exposed metric family (one Prometheus name).
type family struct {
	name     string
	help     string
	counter  bool
	reserved bool // a pyhost family: submitted metrics cannot join it
	n        int  // exposed series
	descs    map[string]*descEntry
}

// descEntry is a family's Desc for one label-name set, and the label names
// every series with that set points to.
type descEntry struct {
	desc  *prometheus.Desc
	names []string
}

// expSeries is one exposed series: a name and a label set, fed by one
// contribution per instance. fam, key, desc, labels and values never change
// once made.
type expSeries struct {
	fam      *family
	key      string
	desc     *prometheus.Desc
	labels   []*dto.LabelPair // sorted by name
	values   []string         // the label values, in labels' order
	contribs []*contribution
	removed  bool
}

// contribution is one instance's share of an exposed series: the last value
// (gauge) or the cumulative total (counter).
type contribution struct {
	series  *expSeries
	owner   *instance
	value   float64
	seq     uint64 // gauge: order of the last update
	updated int64  // unix ns
	idx     int32  // in owner.contribs; -1 once removed
	sidx    int32  // in series.contribs
}

func (ct *contribution) removed() bool { return ct.idx < 0 }

// indexedShares is how many contributions of an instance are found by
// scanning them (see Aggregator.shares).
const indexedShares = 8

// share is the key of Aggregator.shares.
type share struct {
	series *expSeries
	owner  *instance
}

// New returns an empty Aggregator.
func New(opts Options) *Aggregator {
	a := &Aggregator{
		expiry:    int64(opts.Expiry),
		now:       opts.Now,
		log:       opts.Logger,
		instances: make(map[string]*instance),
		families:  make(map[string]*family),
		index:     make(map[string]*expSeries),
		shares:    make(map[share]*contribution),
		conflicts: make(map[string]struct{}),
	}
	if a.expiry <= 0 {
		a.expiry = int64(DefaultExpiry)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.families[ServiceCheckFamily] = &family{name: ServiceCheckFamily, help: serviceCheckHelp, reserved: true, descs: map[string]*descEntry{}}
	a.families[EventsFamily] = &family{name: EventsFamily, help: eventsHelp, counter: true, reserved: true, descs: map[string]*descEntry{}}
	return a
}

// Commit aggregates one run of the instance checkID (of check checkName),
// ended at time at, and returns the series it produces, sorted by name,
// tags and hostname. A partial result (the check raised) is committed as
// is; a nil res does nothing.
func (a *Aggregator) Commit(checkName, checkID string, res *pyhost.Result, at time.Time) []Series {
	return a.AppendCommit(nil, checkName, checkID, res, at)
}

// AppendCommit is Commit appending the series to dst: a caller that reuses
// dst (the agent's run loop) allocates none per run.
func (a *Aggregator) AppendCommit(dst []Series, checkName, checkID string, res *pyhost.Result, at time.Time) []Series {
	if res == nil {
		return dst
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now().UnixNano()
	inst := a.instances[checkID]
	if inst == nil {
		inst = &instance{}
		a.instances[checkID] = inst
	}
	inst.name = checkName

	out := inst.sampler.commit(res.Metrics, at, &a.scratch)
	series := slices.Grow(dst, len(out))
	for i := range out {
		f := &out[i]
		series = append(series, f.Series)
		a.exposeFlushed(inst, f, now)
	}
	for i := range res.ServiceChecks {
		sc := &res.ServiceChecks[i]
		if sc.Name == "" {
			continue
		}
		status := min(sc.Status, pyhost.StatusUnknown)
		if ct := a.contribution(inst, ServiceCheckFamily, SeriesGauge, "", sc.Tags, sc.Hostname, serviceCheckLabel, sc.Name); ct != nil {
			a.update(ct, float64(status), false, now)
		}
	}
	ct := inst.events
	if ct == nil || ct.removed() || ct.series.values[0] != validUTF8(checkName) {
		ct = a.contribution(inst, EventsFamily, SeriesCount, "", nil, "", checkLabel, checkName)
		inst.events = ct
	}
	a.update(ct, float64(len(res.Events)), true, now)

	cutoff := now - a.expiry
	for i := len(inst.contribs) - 1; i >= 0; i-- {
		if i < len(inst.contribs) && inst.contribs[i].updated <= cutoff {
			a.removeContribution(inst.contribs[i])
		}
	}
	if a.dead > 64 && a.dead > len(a.series)/2 { // when nothing scrapes
		a.compact()
	}
	return series
}

// exposeFlushed updates the exposed series of one flushed series.
func (a *Aggregator) exposeFlushed(inst *instance, f *flushed, now int64) {
	c := f.ctx
	if c.contribs == nil {
		n := 1
		if c.hist != nil {
			n = histSubs
		}
		c.contribs = make([]*contribution, n)
	}
	counter := f.Type == SeriesCount
	ct := c.contribs[f.sub]
	if ct == nil || ct.removed() {
		ct = a.contribution(inst, metricName(f.Name), f.Type, f.Name, f.Tags, f.Hostname, "", "")
		c.contribs[f.sub] = ct
		if ct == nil {
			return
		}
	}
	a.update(ct, f.Value, counter, now)
}

func (a *Aggregator) update(ct *contribution, v float64, counter bool, now int64) {
	if counter {
		if v > 0 { // a Prometheus counter only goes up
			ct.value += v
		}
	} else {
		a.seq++
		ct.value, ct.seq = v, a.seq
	}
	ct.updated = now
}

// contribution finds or creates inst's contribution to the series (name,
// labels) fed by series of type t. ddName is the Datadog name ("" for the
// pyhost families). It returns nil if name is exposed with another type.
func (a *Aggregator) contribution(inst *instance, name string, t SeriesType, ddName string, tags []string, host, extraName, extraValue string) *contribution {
	counter := t == SeriesCount
	fam := a.families[name]
	if fam == nil {
		fam = &family{name: name, counter: counter, help: datadogHelp(ddName, t), descs: map[string]*descEntry{}}
		a.families[name] = fam
	} else if fam.counter != counter || fam.reserved != (ddName == "") {
		a.conflict(fam, ddName, counter)
		return nil
	}
	a.labelBuf = tagLabels(a.labelBuf, tags, host, extraName, extraValue)
	b := append(a.keyBuf[:0], name...)
	for _, l := range a.labelBuf {
		b = append(b, 0xff)
		b = append(b, l.name...)
		b = append(b, 0xfe)
		b = append(b, l.value...)
	}
	a.keyBuf = b
	s := a.index[string(b)]
	if s == nil {
		s = a.newSeries(fam, string(b), a.labelBuf)
	}
	if ct := a.share(inst, s); ct != nil {
		return ct
	}
	ct := &contribution{series: s, owner: inst, idx: int32(len(inst.contribs)), sidx: int32(len(s.contribs))}
	s.contribs = append(s.contribs, ct)
	inst.contribs = append(inst.contribs, ct)
	switch n := len(inst.contribs); {
	case n == indexedShares+1:
		for _, c := range inst.contribs {
			a.shares[share{c.series, inst}] = c
		}
	case n > indexedShares:
		a.shares[share{s, inst}] = ct
	}
	return ct
}

// share is inst's contribution to s, or nil.
func (a *Aggregator) share(inst *instance, s *expSeries) *contribution {
	if len(inst.contribs) > indexedShares {
		return a.shares[share{s, inst}]
	}
	for _, ct := range inst.contribs {
		if ct.series == s {
			return ct
		}
	}
	return nil
}

// datadogHelp is the HELP of a family, from its first series.
func datadogHelp(ddName string, t SeriesType) string {
	if t == SeriesCount {
		return fmt.Sprintf("Datadog count %q submitted by Python checks, summed since the agent started", ddName)
	}
	return fmt.Sprintf("Datadog %s %q submitted by Python checks", t, ddName)
}

func (a *Aggregator) conflict(fam *family, ddName string, counter bool) {
	if _, ok := a.conflicts[fam.name]; ok {
		return
	}
	a.conflicts[fam.name] = struct{}{}
	if a.log == nil {
		return
	}
	want, have := "gauge", "gauge"
	if counter {
		want = "counter"
	}
	if fam.counter {
		have = "counter"
	}
	a.log.Warn("aggregate: series not exposed: its Prometheus name is already exposed with another type",
		"name", fam.name, "datadog_name", ddName, "type", want, "exposed_type", have, "reserved", fam.reserved)
}

func (a *Aggregator) newSeries(fam *family, key string, labels []labelPair) *expSeries {
	b := a.keyBuf[:0]
	for _, l := range labels {
		b = append(b, l.name...)
		b = append(b, 0xff)
	}
	a.keyBuf = b
	d := fam.descs[string(b)]
	if d == nil {
		d = &descEntry{names: make([]string, len(labels))}
		for i, l := range labels {
			d.names[i] = l.name
		}
		d.desc = prometheus.NewDesc(fam.name, fam.help, d.names, nil)
		fam.descs[string(b)] = d
	}
	// One allocation each for the pairs, their pointers and the values; the
	// names are the Desc entry's.
	pairs := make([]dto.LabelPair, len(labels))
	ptrs := make([]*dto.LabelPair, len(labels))
	values := make([]string, len(labels))
	for i, l := range labels {
		values[i] = l.value
		pairs[i].Name, pairs[i].Value = &d.names[i], &values[i]
		ptrs[i] = &pairs[i]
	}
	s := &expSeries{fam: fam, key: key, desc: d.desc, labels: ptrs, values: values}
	a.series = append(a.series, s)
	a.sorted = false
	a.index[key] = s
	fam.n++
	return s
}

// compareExposed orders series by name, then as client_golang orders a
// family's metrics (number of labels, then label values in order), so that
// the registry gets each family already sorted.
func compareExposed(x, y *expSeries) int {
	if c := strings.Compare(x.fam.name, y.fam.name); c != 0 {
		return c
	}
	if c := len(x.values) - len(y.values); c != 0 {
		return c
	}
	return slices.Compare(x.values, y.values)
}

func (a *Aggregator) removeContribution(ct *contribution) {
	o := ct.owner
	last := o.contribs[len(o.contribs)-1]
	o.contribs[ct.idx], last.idx = last, ct.idx
	o.contribs[len(o.contribs)-1] = nil
	o.contribs = o.contribs[:len(o.contribs)-1]

	s := ct.series
	delete(a.shares, share{s, o})
	last = s.contribs[len(s.contribs)-1]
	s.contribs[ct.sidx], last.sidx = last, ct.sidx
	s.contribs[len(s.contribs)-1] = nil
	s.contribs = s.contribs[:len(s.contribs)-1]
	ct.idx = -1
	if len(s.contribs) == 0 {
		a.removeSeries(s)
	}
}

func (a *Aggregator) removeSeries(s *expSeries) {
	s.removed = true
	a.dead++
	delete(a.index, s.key)
	s.fam.n--
	if s.fam.n == 0 && !s.fam.reserved {
		delete(a.families, s.fam.name)
	}
}

// sweep drops every contribution not refreshed for the expiry, and the
// series left without any; then it compacts a.series.
func (a *Aggregator) sweep() {
	cutoff := a.now().UnixNano() - a.expiry
	for _, s := range a.series {
		for i := len(s.contribs) - 1; i >= 0; i-- {
			if i < len(s.contribs) && s.contribs[i].updated <= cutoff {
				a.removeContribution(s.contribs[i])
			}
		}
	}
	a.compact()
}

// compact drops the removed series from a.series (keeping its order).
func (a *Aggregator) compact() {
	if a.dead > 0 {
		live := a.series[:0]
		for _, s := range a.series {
			if !s.removed {
				live = append(live, s)
			}
		}
		clear(a.series[len(live):])
		a.series, a.dead = live, 0
	}
}

// Forget drops the instance checkID (unscheduled): its sampler and its share
// of every exposed series.
func (a *Aggregator) Forget(checkID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	inst := a.instances[checkID]
	if inst == nil {
		return
	}
	for len(inst.contribs) > 0 {
		a.removeContribution(inst.contribs[len(inst.contribs)-1])
	}
	delete(a.instances, checkID)
}

// Len returns the number of series currently exposed, service checks and
// event counters included.
func (a *Aggregator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep()
	return len(a.series)
}

// Describe sends nothing: the Aggregator is an unchecked collector, as its
// series are only known at run time.
func (a *Aggregator) Describe(chan<- *prometheus.Desc) {}

// Collect sends every exposed series not expired, each family in the order
// the registry sorts it into.
func (a *Aggregator) Collect(ch chan<- prometheus.Metric) {
	a.mu.Lock()
	a.sweep()
	if !a.sorted {
		slices.SortFunc(a.series, compareExposed)
		a.sorted = true
	}
	counters := 0
	for _, s := range a.series {
		if s.fam.counter {
			counters++
		}
	}
	// The scrape's snapshot, in two allocations.
	gs := make([]gaugeMetric, 0, len(a.series)-counters)
	cs := make([]counterMetric, 0, counters)
	for _, s := range a.series {
		if s.fam.counter {
			cs = append(cs, counterMetric{s: s, v: s.value()})
		} else {
			gs = append(gs, gaugeMetric{s: s, v: s.value()})
		}
	}
	a.mu.Unlock()

	for i := range gs {
		m := &gs[i]
		m.g.Value = &m.v
		ch <- m
	}
	for i := range cs {
		m := &cs[i]
		m.c.Value = &m.v
		ch <- m
	}
}

func (s *expSeries) value() float64 {
	if len(s.contribs) == 1 {
		return s.contribs[0].value
	}
	var v float64
	var seq uint64
	for _, c := range s.contribs {
		if s.fam.counter {
			v += c.value
		} else if c.seq >= seq {
			v, seq = c.value, c.seq
		}
	}
	return v
}

// gaugeMetric and counterMetric are one series as one scrape sees it. They
// only read the series' fields that never change.
type gaugeMetric struct {
	s *expSeries
	v float64
	g dto.Gauge
}

func (m *gaugeMetric) Desc() *prometheus.Desc { return m.s.desc }

func (m *gaugeMetric) Write(out *dto.Metric) error {
	out.Label, out.Gauge = m.s.labels, &m.g
	return nil
}

type counterMetric struct {
	s *expSeries
	v float64
	c dto.Counter
}

func (m *counterMetric) Desc() *prometheus.Desc { return m.s.desc }

func (m *counterMetric) Write(out *dto.Metric) error {
	out.Label, out.Counter = m.s.labels, &m.c
	return nil
}
