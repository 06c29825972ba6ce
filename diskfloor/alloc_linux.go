package diskfloor

import (
	"os"

	"golang.org/x/sys/unix"
)

// allocate reserves n bytes for f: fallocate where the filesystem has it (ext4, xfs, tmpfs),
// else zeros written out.
func allocate(f *os.File, n int64) error {
	if err := unix.Fallocate(int(f.Fd()), 0, 0, n); err == nil {
		return nil
	}
	return writeZeros(f, n)
}
