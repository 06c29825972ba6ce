package diskfloor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// ballast is the reserve file. Only Check creates and releases it; size is read by any
// goroutine.
type ballast struct {
	path string
	want int64 // configured size; 0: no ballast

	mu   sync.Mutex
	have int64 // bytes the file holds now
}

func newBallast(dir string, want int64) ballast {
	return ballast{path: filepath.Join(dir, BallastName), want: want}
}

// load adopts a ballast left by an earlier run when its size is the configured one, and
// removes it otherwise (the size changed, or the ballast was turned off).
func (b *ballast) load() error {
	fi, err := os.Stat(b.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("diskfloor: %w", err)
	}
	if fi.Mode().IsRegular() && fi.Size() == b.want && b.want > 0 {
		b.set(b.want)
		return nil
	}
	if err := os.Remove(b.path); err != nil {
		return fmt.Errorf("diskfloor: remove the old ballast: %w", err)
	}
	return nil
}

func (b *ballast) size() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.have
}

func (b *ballast) set(n int64) {
	b.mu.Lock()
	b.have = n
	b.mu.Unlock()
}

func (b *ballast) held() bool { return b.size() > 0 }

// create writes the ballast file (mode 0600) and syncs it; a partial file is removed.
func (b *ballast) create() error {
	f, err := os.OpenFile(b.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = allocate(f, b.want)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(b.path)
		return err
	}
	b.set(b.want)
	return nil
}

// release deletes the ballast file, giving its bytes back to the filesystem.
func (b *ballast) release() error {
	if err := os.Remove(b.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b.set(0)
	return nil
}

// writeZeros fills f with n zero bytes, in 1 MiB writes.
func writeZeros(f *os.File, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}
