package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// writePIDFile writes pid and a newline to path. It writes a temp file in
// the same directory and renames it over path, so a reader sees the old
// file or the whole new one, never a partial pid.
func writePIDFile(path string, pid int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, werr := tmp.WriteString(strconv.Itoa(pid) + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(name)
		return err
	}
	if err := os.Chmod(name, 0o644); err != nil {
		_ = os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		_ = os.Remove(name)
		return err
	}
	return nil
}

// removePIDFile removes path if it still holds pid: a later process that
// took the file over (after this one was thought dead) keeps it. A missing
// file is not an error.
func removePIDFile(path string, pid int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if got := string(bytes.TrimSpace(b)); got != strconv.Itoa(pid) {
		return fmt.Errorf("%s holds pid %q, not ours (%d): left in place", path, got, pid)
	}
	return os.Remove(path)
}
