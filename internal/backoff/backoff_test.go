package backoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDelay(t *testing.T) {
	t.Parallel()
	lo, hi := 200*time.Millisecond, 15*time.Second
	ceiling := lo
	for n := 1; n <= 40; n++ {
		for range 50 {
			d := Delay(n, lo, hi)
			require.GreaterOrEqual(t, d, ceiling/2, "attempt %d", n)
			require.LessOrEqual(t, d, ceiling, "attempt %d", n)
		}
		ceiling = min(2*ceiling, hi)
	}
}
