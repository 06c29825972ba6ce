//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package diskfloor

import "errors"

// statfs is not implemented here: New refuses a floor on such a platform.
func statfs(string) (Usage, error) {
	return Usage{}, errors.New("diskfloor: statfs is not supported on this platform")
}
