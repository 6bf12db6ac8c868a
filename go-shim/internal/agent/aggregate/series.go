package aggregate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// SeriesType is the type of a flushed series, as in Datadog's series API.
type SeriesType uint8

// Flushed series types.
const (
	SeriesGauge SeriesType = iota
	SeriesCount
	SeriesRate
)

var seriesTypeNames = [...]string{"gauge", "count", "rate"}

func (t SeriesType) String() string {
	if int(t) < len(seriesTypeNames) {
		return seriesTypeNames[t]
	}
	return fmt.Sprintf("series_type(%d)", t)
}

// MarshalText writes the type's name.
func (t SeriesType) MarshalText() ([]byte, error) {
	if int(t) >= len(seriesTypeNames) {
		return nil, fmt.Errorf("aggregate: invalid series type %d", t)
	}
	return []byte(seriesTypeNames[t]), nil
}

// UnmarshalText reads a type's name.
func (t *SeriesType) UnmarshalText(b []byte) error {
	for i, n := range seriesTypeNames {
		if string(b) == n {
			*t = SeriesType(i)
			return nil
		}
	}
	return fmt.Errorf("aggregate: unknown series type %q", b)
}

// Series is one flushed value, in Datadog's flushed (API) form.
//
// Tags are sorted and deduplicated. A Series returned by Commit may share its
// Tags slice with the sampler and with other series: treat it as read-only.
type Series struct {
	Name     string     `json:"name"`
	Type     SeriesType `json:"type"`
	Value    float64    `json:"value"`
	Tags     []string   `json:"tags"`
	Hostname string     `json:"hostname"`
}

// MarshalJSON writes the series with "tags" as [] rather than null.
func (s Series) MarshalJSON() ([]byte, error) {
	type plain Series
	if s.Tags == nil {
		s.Tags = noTags
	}
	return json.Marshal(plain(s))
}

// noTags is the Tags of series without tags (never mutated: its capacity is 0).
var noTags = []string{}

// compareSeries orders series by name, then tags, then hostname.
func compareSeries(a, b *Series) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := slices.Compare(a.Tags, b.Tags); c != 0 {
		return c
	}
	return strings.Compare(a.Hostname, b.Hostname)
}
