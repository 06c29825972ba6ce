//go:build !linux

package diskfloor

import "os"

// allocate reserves n bytes for f by writing zeros.
func allocate(f *os.File, n int64) error { return writeZeros(f, n) }
