//go:build linux || darwin || freebsd || netbsd || openbsd

package diskfloor

import "syscall"

// statfs reports the bytes available to an unprivileged user and the filesystem's size.
func statfs(path string) (Usage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return Usage{}, err
	}
	bs := uint64(st.Bsize) //nolint:unconvert // int64 on linux, uint32 on darwin
	return Usage{Free: int64(uint64(st.Bavail) * bs), Total: int64(uint64(st.Blocks) * bs)}, nil
}
