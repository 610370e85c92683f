package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors returned by CrashFS.
var (
	// ErrInjected is wrapped by the error of an operation a Fault made fail.
	ErrInjected = errors.New("vfs: injected fault")
	// ErrCrashed is returned by every operation on a File opened before the
	// last Crash or CrashTorn (the process that held it is gone).
	ErrCrashed = errors.New("vfs: file handle predates a crash")
	// ErrClosed is returned by operations on a closed File.
	ErrClosed = errors.New("vfs: file already closed")

	errIsDir    = errors.New("is a directory")
	errNotDir   = errors.New("not a directory")
	errNotEmpty = errors.New("directory not empty")
	errBadFD    = errors.New("bad file descriptor")
)

// Op names a kind of mutating operation, for fault injection and counting.
type Op uint8

// Operation kinds.
const (
	// OpAny matches every kind below.
	OpAny Op = iota
	// OpWrite is File.Write and File.WriteAt.
	OpWrite
	// OpSync is File.Sync.
	OpSync
	// OpSyncDir is FS.SyncDir.
	OpSyncDir
	// OpRename is FS.Rename.
	OpRename
	// OpRemove is FS.Remove.
	OpRemove
	// OpCreate is opening a file that does not exist yet with O_CREATE.
	OpCreate
	// OpMkdir is creating one directory in FS.MkdirAll.
	OpMkdir
	// OpTruncate is File.Truncate and opening an existing file with O_TRUNC.
	OpTruncate
	// OpPreallocate is File.Preallocate.
	OpPreallocate
	numOps
)

var opNames = [numOps]string{"any", "write", "sync", "syncdir", "rename", "remove", "create", "mkdir", "truncate", "preallocate"}

// String returns the operation's lowercase name.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "op?"
}

// Fault makes matching operations fail with an error wrapping ErrInjected.
// The failed operation changes nothing.
type Fault struct {
	// Op is the kind of operation to fail; OpAny matches every mutating one.
	Op Op
	// After is how many matching operations still succeed (counted from
	// Inject): After 0 fails the next one.
	After int
	// Count is how many matching operations then fail; 0 means every later
	// one (a sticky fault).
	Count int
}

type faultState struct {
	Fault
	seen int
}

// CrashFS is an in-memory FS that can simulate a power cut. See the package
// documentation for what survives. The zero value is not usable; call
// NewCrashable.
type CrashFS struct {
	mu     sync.Mutex
	root   *memDir
	gen    uint64
	faults []*faultState
	ops    [numOps]int
}

// NewCrashable returns an empty in-memory FS whose root directory is "/".
func NewCrashable() *CrashFS {
	return &CrashFS{root: newMemDir()}
}

// Inject adds a fault. Faults stay until ClearFaults.
func (c *CrashFS) Inject(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, &faultState{Fault: f})
}

// ClearFaults removes every injected fault.
func (c *CrashFS) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

// Ops returns how many operations of kind op were attempted so far (OpAny:
// of every kind), including failed ones.
func (c *CrashFS) Ops(op Op) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op]
}

// Crash simulates a power cut: every byte not synced and every directory
// change not synced is lost. Open files return ErrCrashed from then on.
func (c *CrashFS) Crash() { c.CrashTorn(nil) }

// CrashTorn is Crash, except that with a non-nil rng a random prefix of each
// file's unsynced operations (the last surviving write possibly cut short;
// truncations and preallocations are atomic) and of each directory's
// unsynced operations survive.
// The outcome depends only on the FS's history and rng's state.
func (c *CrashFS) CrashTorn(rng *rand.Rand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.root = surviveDir(c.root, rng, map[any]any{})
	c.gen++
}

// Survivor returns, as a new FS without faults, what would be on disk if the
// power failed now (with rng as in CrashTorn). c itself is unchanged.
func (c *CrashFS) Survivor(rng *rand.Rand) *CrashFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &CrashFS{root: surviveDir(c.root, rng, map[any]any{})}
}

// fault counts an operation and reports whether an injected fault fails it.
func (c *CrashFS) faultLocked(op Op, name string) error {
	c.ops[op]++
	c.ops[OpAny]++
	var fail bool
	for _, f := range c.faults {
		if f.Op != op && f.Op != OpAny {
			continue
		}
		i := f.seen
		f.seen++
		if i >= f.After && (f.Count == 0 || i < f.After+f.Count) {
			fail = true
		}
	}
	if fail {
		return &fs.PathError{Op: op.String(), Path: name, Err: ErrInjected}
	}
	return nil
}

// --- the tree ---

type memDir struct {
	live    map[string]any // *memDir or *memFile
	durable map[string]any
	pending []dirOp // changes to live since the last SyncDir, in order
}

type dirOpKind uint8

const (
	dirAdd dirOpKind = iota
	dirDel
	dirRename
)

type dirOp struct {
	kind     dirOpKind
	name, to string
	n        any
}

func newMemDir() *memDir {
	return &memDir{live: map[string]any{}, durable: map[string]any{}}
}

func (d *memDir) add(name string, n any) {
	d.live[name] = n
	d.pending = append(d.pending, dirOp{kind: dirAdd, name: name, n: n})
}

func (d *memDir) del(name string) {
	delete(d.live, name)
	d.pending = append(d.pending, dirOp{kind: dirDel, name: name})
}

func (d *memDir) rename(from, to string) {
	n := d.live[from]
	delete(d.live, from)
	d.live[to] = n
	d.pending = append(d.pending, dirOp{kind: dirRename, name: from, to: to, n: n})
}

type memFile struct {
	data      []byte
	synced    []byte
	dirtyFrom int64    // lowest offset changed since the last Sync; MaxInt64 when clean
	ops       []fileOp // changes since the last Sync, in order (for CrashTorn)
}

// fileOp is one unsynced change: a write of data at off, or (data == nil)
// a resize to size.
type fileOp struct {
	off  int64
	data []byte
	size int64
}

func (op fileOp) apply(b []byte, n int) []byte {
	if op.data == nil {
		return resizeBytes(b, op.size)
	}
	if end := op.off + int64(n); end > int64(len(b)) {
		b = resizeBytes(b, end)
	}
	copy(b[op.off:], op.data[:n])
	return b
}

func resizeBytes(b []byte, size int64) []byte {
	if size <= int64(len(b)) {
		return b[:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}

func (f *memFile) dirty(off int64) {
	f.dirtyFrom = min(f.dirtyFrom, off)
}

func (f *memFile) resize(size int64) {
	old := int64(len(f.data))
	if size == old {
		return
	}
	f.data = resizeBytes(f.data, size)
	f.dirty(min(old, size))
	f.ops = append(f.ops, fileOp{size: size})
}

func (f *memFile) write(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(f.data)) {
		f.dirty(int64(len(f.data))) // a gap before off is zero-filled
		f.data = resizeBytes(f.data, end)
	}
	copy(f.data[off:], p)
	f.dirty(off)
	f.ops = append(f.ops, fileOp{off: off, data: slices.Clone(p)})
}

func (f *memFile) sync() {
	f.ops = nil
	if f.dirtyFrom == math.MaxInt64 {
		return
	}
	keep := min(f.dirtyFrom, int64(len(f.synced)), int64(len(f.data)))
	f.synced = append(f.synced[:keep], f.data[keep:]...)
	f.dirtyFrom = math.MaxInt64
}

// survivor returns the file as a crash would leave it: the synced bytes,
// and with rng a prefix of the unsynced operations, the last surviving
// write possibly cut short. A resize (truncate, preallocate) is atomic, as
// a journaling filesystem makes it.
func (f *memFile) survivor(rng *rand.Rand) *memFile {
	out := slices.Clone(f.synced)
	if rng != nil && len(f.ops) > 0 {
		k := rng.IntN(len(f.ops) + 1)
		for _, op := range f.ops[:k] {
			out = op.apply(out, len(op.data))
		}
		if k < len(f.ops) && f.ops[k].data != nil {
			op := f.ops[k]
			out = op.apply(out, rng.IntN(len(op.data)+1))
		}
	}
	if out == nil {
		out = []byte{}
	}
	return &memFile{data: out, synced: slices.Clone(out), dirtyFrom: math.MaxInt64}
}

func surviveDir(d *memDir, rng *rand.Rand, memo map[any]any) *memDir {
	ents := make(map[string]any, len(d.durable))
	for k, v := range d.durable {
		ents[k] = v
	}
	keep := 0
	if rng != nil && len(d.pending) > 0 {
		keep = rng.IntN(len(d.pending) + 1)
	}
	for _, op := range d.pending[:keep] {
		switch op.kind {
		case dirAdd:
			ents[op.name] = op.n
		case dirDel:
			delete(ents, op.name)
		case dirRename:
			delete(ents, op.name)
			ents[op.to] = op.n
		}
	}
	out := newMemDir()
	names := make([]string, 0, len(ents))
	for k := range ents {
		names = append(names, k)
	}
	slices.Sort(names) // rng draws in a stable order
	for _, name := range names {
		n := ents[name]
		nn, ok := memo[n]
		if !ok {
			switch n := n.(type) {
			case *memDir:
				nn = surviveDir(n, rng, memo)
			case *memFile:
				nn = n.survivor(rng)
			}
			memo[n] = nn
		}
		out.live[name] = nn
		out.durable[name] = nn
	}
	return out
}

// --- path helpers ---

func splitPath(name string) []string {
	p := path.Clean("/" + filepath.ToSlash(name))
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

func (c *CrashFS) walkLocked(parts []string) (any, error) {
	var n any = c.root
	for _, p := range parts {
		d, ok := n.(*memDir)
		if !ok {
			return nil, errNotDir
		}
		n, ok = d.live[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
	}
	return n, nil
}

// parentLocked returns the directory that holds name, and name's base.
func (c *CrashFS) parentLocked(op, name string) (*memDir, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n, err := c.walkLocked(parts[:len(parts)-1])
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	d, ok := n.(*memDir)
	if !ok {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: errNotDir}
	}
	return d, parts[len(parts)-1], nil
}

// --- FS methods ---

// Create opens name read-write, creating or truncating it.
func (c *CrashFS) Create(name string) (File, error) {
	return c.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// Open opens name read-only.
func (c *CrashFS) Open(name string) (File, error) {
	return c.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens name with os.O_* flags; perm is ignored.
func (c *CrashFS) OpenFile(name string, flag int, _ fs.FileMode) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, base, err := c.parentLocked("open", name)
	if err != nil {
		return nil, err
	}
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	h := &memHandle{c: c, name: name, gen: c.gen,
		read:   acc == os.O_RDONLY || acc == os.O_RDWR,
		write:  acc == os.O_WRONLY || acc == os.O_RDWR,
		append: flag&os.O_APPEND != 0}
	switch n := d.live[base].(type) {
	case *memDir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	case *memFile:
		if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
		}
		if flag&os.O_TRUNC != 0 && h.write {
			if err := c.faultLocked(OpTruncate, name); err != nil {
				return nil, err
			}
			n.resize(0)
		}
		h.f = n
	default:
		if flag&os.O_CREATE == 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		if err := c.faultLocked(OpCreate, name); err != nil {
			return nil, err
		}
		h.f = &memFile{data: []byte{}, dirtyFrom: 0}
		d.add(base, h.f)
	}
	return h, nil
}

// Remove deletes a file or an empty directory.
func (c *CrashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, base, err := c.parentLocked("remove", name)
	if err != nil {
		return err
	}
	n, ok := d.live[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if sub, ok := n.(*memDir); ok && len(sub.live) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: errNotEmpty}
	}
	if err := c.faultLocked(OpRemove, name); err != nil {
		return err
	}
	d.del(base)
	return nil
}

// Rename moves a file, replacing a file at newpath. Within one directory
// the rename is atomic across a crash; across directories it is a remove
// and an add, each durable with its own directory.
func (c *CrashFS) Rename(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	od, ob, err := c.parentLocked("rename", oldpath)
	if err != nil {
		return err
	}
	nd, nb, err := c.parentLocked("rename", newpath)
	if err != nil {
		return err
	}
	n, ok := od.live[ob]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: fs.ErrNotExist}
	}
	if _, ok := n.(*memDir); ok {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: errIsDir}
	}
	if _, ok := nd.live[nb].(*memDir); ok {
		return &fs.PathError{Op: "rename", Path: newpath, Err: errIsDir}
	}
	if err := c.faultLocked(OpRename, oldpath); err != nil {
		return err
	}
	if od == nd {
		if ob != nb {
			od.rename(ob, nb)
		}
		return nil
	}
	od.del(ob)
	nd.add(nb, n)
	return nil
}

// ReadDir returns the sorted names in dir.
func (c *CrashFS) ReadDir(dir string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.walkLocked(splitPath(dir))
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: err}
	}
	d, ok := n.(*memDir)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: errNotDir}
	}
	names := make([]string, 0, len(d.live))
	for k := range d.live {
		names = append(names, k)
	}
	slices.Sort(names)
	return names, nil
}

// MkdirAll creates dir and its missing parents; perm is ignored.
func (c *CrashFS) MkdirAll(dir string, _ fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.root
	for _, p := range splitPath(dir) {
		switch n := d.live[p].(type) {
		case *memDir:
			d = n
		case *memFile:
			return &fs.PathError{Op: "mkdir", Path: dir, Err: errNotDir}
		default:
			if err := c.faultLocked(OpMkdir, dir); err != nil {
				return err
			}
			sub := newMemDir()
			d.add(p, sub)
			d = sub
		}
	}
	return nil
}

// SyncDir makes dir's entries durable.
func (c *CrashFS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.walkLocked(splitPath(dir))
	if err != nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	d, ok := n.(*memDir)
	if !ok {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: errNotDir}
	}
	if err := c.faultLocked(OpSyncDir, dir); err != nil {
		return err
	}
	d.durable = make(map[string]any, len(d.live))
	for k, v := range d.live {
		d.durable[k] = v
	}
	d.pending = nil
	return nil
}

// Stat describes name.
func (c *CrashFS) Stat(name string) (fs.FileInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := splitPath(name)
	n, err := c.walkLocked(parts)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	base := "/"
	if len(parts) > 0 {
		base = parts[len(parts)-1]
	}
	return infoOf(base, n), nil
}

func infoOf(name string, n any) fs.FileInfo {
	if f, ok := n.(*memFile); ok {
		return memInfo{name: name, size: int64(len(f.data))}
	}
	return memInfo{name: name, dir: true}
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

// --- files ---

type memHandle struct {
	c                   *CrashFS
	f                   *memFile
	name                string
	gen                 uint64
	read, write, append bool
	pos                 int64
	closed              bool
}

func (h *memHandle) checkLocked(op string) error {
	switch {
	case h.closed:
		return &fs.PathError{Op: op, Path: h.name, Err: ErrClosed}
	case h.gen != h.c.gen:
		return &fs.PathError{Op: op, Path: h.name, Err: ErrCrashed}
	}
	return nil
}

func (h *memHandle) Name() string { return h.name }

func (h *memHandle) Read(p []byte) (int, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.checkLocked("read"); err != nil {
		return 0, err
	}
	if !h.read {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: errBadFD}
	}
	if h.pos >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[h.pos:])
	h.pos += int64(n)
	return n, nil
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.checkLocked("read"); err != nil {
		return 0, err
	}
	if !h.read {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: errBadFD}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) Write(p []byte) (int, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	off := h.pos
	if h.append {
		off = int64(len(h.f.data))
	}
	n, err := h.writeAtLocked(p, off)
	h.pos = off + int64(n)
	return n, err
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if h.append {
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: errors.New("WriteAt on O_APPEND file")}
	}
	return h.writeAtLocked(p, off)
}

func (h *memHandle) writeAtLocked(p []byte, off int64) (int, error) {
	if err := h.checkLocked("write"); err != nil {
		return 0, err
	}
	if !h.write {
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: errBadFD}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: fs.ErrInvalid}
	}
	if err := h.c.faultLocked(OpWrite, h.name); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	h.f.write(p, off)
	return len(p), nil
}

func (h *memHandle) Sync() error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.checkLocked("sync"); err != nil {
		return err
	}
	if err := h.c.faultLocked(OpSync, h.name); err != nil {
		return err
	}
	h.f.sync()
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.checkLocked("truncate"); err != nil {
		return err
	}
	if !h.write || size < 0 {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: fs.ErrInvalid}
	}
	if err := h.c.faultLocked(OpTruncate, h.name); err != nil {
		return err
	}
	h.f.resize(size)
	return nil
}

func (h *memHandle) Preallocate(size int64) error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.checkLocked("preallocate"); err != nil {
		return err
	}
	if !h.write {
		return &fs.PathError{Op: "preallocate", Path: h.name, Err: errBadFD}
	}
	if err := h.c.faultLocked(OpPreallocate, h.name); err != nil {
		return err
	}
	if size > int64(len(h.f.data)) {
		h.f.resize(size)
	}
	return nil
}

func (h *memHandle) Stat() (fs.FileInfo, error) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := h.checkLocked("stat"); err != nil {
		return nil, err
	}
	return infoOf(path.Base(filepath.ToSlash(h.name)), h.f), nil
}

// Close releases the handle. Closing a handle from before a crash is a
// no-op that returns nil.
func (h *memHandle) Close() error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if h.closed {
		return &fs.PathError{Op: "close", Path: h.name, Err: ErrClosed}
	}
	h.closed = true
	return nil
}
