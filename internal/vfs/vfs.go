package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is the set of filesystem operations zabkit's storage uses. Paths are
// OS paths (filepath syntax); a CrashFS treats relative paths as relative to
// its root "/".
type FS interface {
	// Create opens name read-write, creating it or truncating it to zero
	// length (mode 0o644). Errors are *fs.PathError.
	Create(name string) (File, error)
	// Open opens name read-only. A missing file gives an error wrapping
	// fs.ErrNotExist.
	Open(name string) (File, error)
	// OpenFile opens name with os.O_* flags (O_RDONLY, O_WRONLY, O_RDWR,
	// O_CREATE, O_EXCL, O_TRUNC, O_APPEND) and perm for a new file.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Remove deletes a file or an empty directory. The removal is durable
	// only after SyncDir of the parent.
	Remove(name string) error
	// Rename moves oldpath to newpath, replacing newpath if it is a file.
	// Durable only after SyncDir of both parents.
	Rename(oldpath, newpath string) error
	// ReadDir returns the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// MkdirAll creates dir and any missing parents. New entries are durable
	// only after SyncDir of their parents (see MkdirAllSync).
	MkdirAll(dir string, perm fs.FileMode) error
	// SyncDir makes the entries of dir (creates, renames, removes) durable.
	SyncDir(dir string) error
	// Stat describes name. A missing file gives an error wrapping
	// fs.ErrNotExist.
	Stat(name string) (fs.FileInfo, error)
}

// File is an open file. Read and Write use and move the file offset; ReadAt
// and WriteAt do not.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Name returns the name the file was opened with.
	Name() string
	// Stat describes the open file.
	Stat() (fs.FileInfo, error)
	// Sync makes the file's data and size durable (fdatasync on Linux).
	// After an error, what reached the disk is unknown.
	Sync() error
	// Truncate changes the file's size; bytes added read as zero.
	Truncate(size int64) error
	// Preallocate makes the file at least size bytes long with the space
	// reserved; bytes beyond the old end read as zero. It never shrinks the
	// file. The new size is durable after Sync.
	Preallocate(size int64) error
}

// MkdirAllSync creates dir and its missing parents like MkdirAll, then syncs
// the parent of every directory it created, so the new directories survive a
// crash. It returns the first error.
func MkdirAllSync(fsys FS, dir string, perm fs.FileMode) error {
	var created []string
	for d := filepath.Clean(dir); ; {
		_, err := fsys.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		created = append(created, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if len(created) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, perm); err != nil {
		return err
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	return nil
}

// OS returns the FS of the real operating system.
func OS() FS { return osFS{} }

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	return osFS{}.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

func (osFS) Open(name string) (File, error) {
	return osFS{}.OpenFile(name, os.O_RDONLY, 0)
}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osFS) Stat(name string) (fs.FileInfo, error) {
	return os.Stat(name)
}
func (osFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// osFile is an *os.File with Sync as fdatasync where the platform has it and
// Preallocate.
type osFile struct{ *os.File }

func (f osFile) Sync() error { return datasync(f.File) }

func (f osFile) Preallocate(size int64) error { return preallocate(f.File, size) }

// zeroFill extends f with zeros to size by writing them (the portable
// preallocation fallback).
func zeroFill(f *os.File, size int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	off := st.Size()
	if off >= size {
		return nil
	}
	zeros := make([]byte, min(size-off, 1<<20))
	for off < size {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}
