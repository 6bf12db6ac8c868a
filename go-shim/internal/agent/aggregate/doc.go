// Package aggregate turns check run results into series with the Datadog
// Agent's check aggregation semantics (pkg/aggregator's check sampler,
// pkg/metrics) and exposes them to Prometheus.
//
// # Aggregation
//
// One Commit is one check run and one Datadog flush. A context is (name,
// sorted deduplicated tags, hostname) per check instance; as in Datadog, its
// type is the type of its first sample (later samples of another type are
// aggregated as that type). NaN and ±Inf samples are skipped, and a
// non-finite result is never flushed. Per run:
//
//   - gauge: the last value, as a gauge; nothing if the run had no sample.
//   - count: the sum, as a count.
//   - counter: the sum, as a rate (Datadog's Counter with the 1 s interval
//     it uses for check submissions).
//   - rate: (this run's last sample - the previous run's last sample) /
//     seconds between the two runs' end times, as a gauge. Nothing on the
//     first sample, when that time difference is ≤ 0, or when the result is
//     negative (Datadog takes it for a counter reset).
//   - monotonic_count: the sum of the increases between successive samples,
//     within the run and from the previous run's last sample, as a count. A
//     decrease is a counter reset: nothing is counted for it, unless the
//     sample has flush_first_value, in which case its value is counted. The
//     very first value is counted only with flush_first_value.
//   - histogram: Datadog's defaults (histogram_aggregates max, median, avg,
//     count; histogram_percentiles 0.95): NAME.max, .median, .avg and
//     .95percentile as gauges, NAME.count (the number of samples) as a rate.
//     Median and percentile are Datadog's: the sorted sample at index
//     (n-1)/2 and (95n-1)/100.
//   - historate: the rate between successive samples, aggregated as a
//     histogram.
//
// Contexts expire as in Datadog: at the second commit without samples, and
// rate, monotonic_count and historate state is kept for 25 h after the last
// sample.
//
// Differences from Datadog, intended:
//   - All samples of a run share one time (the run's end), where Datadog
//     stamps each submission. So a rate compares the run's last sample with
//     the previous run's last one (Datadog would compute it between two
//     submissions of one run, microseconds apart), and historate gets no rate
//     from two samples of the same run.
//   - historate keeps its previous sample across flushes; Datadog forgets it
//     after a flush that had values, so one sample per run would give a
//     value only every other run.
//   - monotonic_count with flush_first_value: a reset within a run adds the
//     new value to the increases counted before it, where Datadog replaces
//     them (the same result with one sample per run).
//   - No sample rates, distributions, timestamps or histogram configuration.
//
// # Exposition
//
// The Aggregator is an unchecked prometheus.Collector. A Prometheus name is
// the Datadog name with every character outside [a-zA-Z0-9_:] replaced by
// '_' and a '_' before a leading digit (no suffix is added). Tags become
// labels: "key:value" → key="value" (split at the first colon), a bare "foo"
// → foo="true", empty tags are skipped; a label name has every character
// outside [a-zA-Z0-9_] replaced by '_', a '_' before a leading digit, "tag"
// for an empty key and a "tag" prefix when it starts with "__". Several
// values for one label name are sorted, deduplicated and joined with ",". A
// non-empty hostname becomes the label host and replaces any host tag; with
// an empty hostname a host tag is kept. Invalid UTF-8 in values is replaced.
//
// A flushed gauge or rate is a Prometheus gauge holding the last flushed
// value. A flushed count is a Prometheus counter holding the sum of every
// count flushed since the Aggregator was made (negative counts are not
// added). When several instances produce the same name and labels, the gauge
// is the most recently flushed value and the counter is the sum of the
// instances' totals (it drops when an instance expires or is forgotten).
// Gauges and rates share a family; a name submitted both as a gauge/rate and
// as a count keeps the first type exposed, the other series are not exposed
// (logged once per name), and the family's HELP comes from its first series.
// A family whose series are all gone is forgotten, type included.
//
// Service checks are the gauge pyhost_service_check_status (0 OK, 1 WARNING,
// 2 CRITICAL, 3 UNKNOWN) with the label service_check (replacing any tag of
// that name) plus the tag and host labels above. Events are counted by
// pyhost_check_events_total{check="<check name>"} (event tags are not
// labels), which appears at 0 after a check's first run. Submitted metrics
// cannot use these two names.
//
// A series, service check or event counter that no Commit refreshed for
// Options.Expiry is dropped.
package aggregate
