package aggregate

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Reserved label names.
const (
	hostLabel         = "host"
	serviceCheckLabel = "service_check"
	checkLabel        = "check"
)

// metricName maps a Datadog name to a Prometheus metric name: every character
// outside [a-zA-Z0-9_:] becomes '_', and a leading digit gets a '_' prefix.
func metricName(s string) string {
	return sanitize(s, true)
}

// labelName maps a tag key to a Prometheus label name: every character
// outside [a-zA-Z0-9_] becomes '_', a leading digit gets a '_' prefix, an
// empty key becomes "tag", and a name starting with "__" (reserved by
// Prometheus) gets a "tag" prefix.
func labelName(s string) string {
	n := sanitize(s, false)
	switch {
	case n == "":
		return "tag"
	case strings.HasPrefix(n, "__"):
		return "tag" + n
	}
	return n
}

func validByte(c byte, colon bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || colon && c == ':'
}

func sanitize(s string, colon bool) string {
	ok := s == "" || s[0] < '0' || s[0] > '9'
	for i := 0; ok && i < len(s); i++ {
		ok = validByte(s[i], colon)
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	if s[0] >= '0' && s[0] <= '9' {
		b.WriteByte('_')
	}
	for _, r := range s { // one '_' per character, not per byte
		if r < utf8.RuneSelf && validByte(byte(r), colon) {
			b.WriteByte(byte(r))
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// labelPair is one label before it becomes a dto.LabelPair.
type labelPair struct{ name, value string }

// tagLabels maps tags (plus the hostname and one extra label, if not empty)
// to sorted labels, appending to buf:
//   - "key:value" → key="value" (split at the first colon); a bare "foo" →
//     foo="true"; empty tags are skipped;
//   - several values for one label name → the distinct values, sorted,
//     joined with ",";
//   - a non-empty hostname → host="<hostname>", replacing any host tag;
//   - the extra label replaces any tag of that name.
func tagLabels(buf []labelPair, tags []string, host, extraName, extraValue string) []labelPair {
	buf = buf[:0]
	for _, t := range tags {
		if t == "" {
			continue
		}
		k, v, found := strings.Cut(t, ":")
		if !found {
			v = "true"
		}
		k = labelName(k)
		if host != "" && k == hostLabel || extraName != "" && k == extraName {
			continue
		}
		buf = append(buf, labelPair{k, validUTF8(v)})
	}
	if host != "" {
		buf = append(buf, labelPair{hostLabel, validUTF8(host)})
	}
	if extraName != "" {
		buf = append(buf, labelPair{extraName, validUTF8(extraValue)})
	}
	slices.SortFunc(buf, func(a, b labelPair) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	buf = slices.Compact(buf)
	// Join the values of repeated names.
	out := buf[:0]
	for i := 0; i < len(buf); {
		j := i + 1
		for j < len(buf) && buf[j].name == buf[i].name {
			j++
		}
		p := buf[i]
		if j-i > 1 {
			var b strings.Builder
			for k := i; k < j; k++ {
				if k > i {
					b.WriteByte(',')
				}
				b.WriteString(buf[k].value)
			}
			p.value = b.String()
		}
		out = append(out, p)
		i = j
	}
	return out
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
