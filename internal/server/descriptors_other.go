//go:build !unix

package server

// openFileLimit reports that the platform has no open-file limit to fit.
func openFileLimit() (uint64, bool) { return 0, false }
