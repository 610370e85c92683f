//go:build !linux

package vfs

import "os"

// datasync is a full fsync where fdatasync is not available (on darwin,
// os.File.Sync uses F_FULLFSYNC).
func datasync(f *os.File) error { return f.Sync() }

// preallocate writes zeros up to size.
func preallocate(f *os.File, size int64) error { return zeroFill(f, size) }
