package snap

import (
	"io"
	"testing"

	"github.com/zabkit/zabkit/internal/vfs"
)

const benchPayload = 32 << 20

func writeChunks(w io.Writer) error {
	chunk := make([]byte, 64<<10)
	for n := 0; n < benchPayload; n += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkWrite writes a 32 MiB snapshot to the real disk (temp file,
// fsync, rename, directory fsync).
func BenchmarkWrite(b *testing.B) {
	s, err := Open(b.TempDir(), vfs.OS(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchPayload)
	z := uint64(0)
	for b.Loop() {
		z++
		if err := s.Write(z, writeChunks); err != nil {
			b.Fatal(err)
		}
		if err := s.Retain(1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad verifies and reads back a 32 MiB snapshot (two passes).
func BenchmarkLoad(b *testing.B) {
	s, err := Open(b.TempDir(), vfs.OS(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Write(1, writeChunks); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchPayload)
	for b.Loop() {
		if _, err := s.Load(func(_ uint64, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}
