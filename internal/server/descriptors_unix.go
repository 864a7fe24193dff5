//go:build unix

package server

import "syscall"

// openFileLimit returns the soft RLIMIT_NOFILE, first raised to the hard
// limit. Go's runtime raises it to one below the hard limit at start-up
// (keeping the original for child processes); this only acts when that did
// not happen.
func openFileLimit() (uint64, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	if lim.Cur+1 < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	return uint64(lim.Cur), true
}
