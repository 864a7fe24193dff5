// Package backoff spaces out retries: exponential, capped, jittered.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay returns the wait before attempt n (from 1): lo doubled n-1 times, at
// most hi, less a random part of up to half, so retries that failed together
// spread out.
func Delay(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - rand.N(d/2+1)
}
