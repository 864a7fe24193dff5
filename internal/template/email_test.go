package template

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		7 * 24 * time.Hour: "7 days",
		24 * time.Hour:     "1 day",
		25 * time.Hour:     "25 hours",
		time.Hour:          "1 hour",
		90 * time.Minute:   "90 minutes",
		time.Minute:        "1 minute",
		30 * time.Second:   "30 seconds",
		0:                  "1 second",
	} {
		require.Equal(t, want, humanDuration(d), d.String())
	}
}
