package vfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces name with data so that after a crash the file
// holds either its old contents or data, never a mix: it writes name+".tmp",
// syncs it, renames it over name and syncs the directory (the recipe for
// small state files such as ZAB's acceptedEpoch and currentEpoch). A
// leftover name+".tmp" from an earlier crash is overwritten. On error the
// temporary file is removed and the error returned.
func WriteFileAtomic(fsys FS, name string, data []byte) (err error) {
	tmp := name + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = fsys.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = fsys.Rename(tmp, name); err != nil {
		return err
	}
	if err = fsys.SyncDir(filepath.Dir(name)); err != nil {
		return fmt.Errorf("vfs: rename of %s not durable: %w", name, err)
	}
	return nil
}

// ReadFile returns the whole contents of name, or the error from opening
// or reading it (fs.ErrNotExist when it is missing).
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
