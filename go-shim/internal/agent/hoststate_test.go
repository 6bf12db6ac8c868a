package agent

import (
	"testing"
	"time"
)

// The checks summary goes out at most once a second, and less often when
// making it is costly (many instances): its cost stays within publishShare
// of a core.
func TestPublishPauseBoundsTheSummarysShareOfACore(t *testing.T) {
	for _, tc := range []struct{ took, want time.Duration }{
		{0, publishEvery},
		{time.Millisecond, publishEvery},
		{100 * time.Millisecond, 50 * time.Second},
	} {
		got := publishPause(tc.took)
		if got != tc.want {
			t.Errorf("publishPause(%v) = %v, want %v", tc.took, got, tc.want)
		}
		if share := float64(tc.took) / float64(got); share > publishShare {
			t.Errorf("a %v publication every %v is %.2f%% of a core", tc.took, got, 100*share)
		}
	}
}
