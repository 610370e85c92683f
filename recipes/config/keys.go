package config

import (
	"fmt"
	"strings"

	"github.com/zabkit/zabkit/tree"
)

// Version arguments of Store.Put, Store.Delete, Entry and
// Counter.CompareAndSet, besides a znode version (>= 0).
const (
	// AnyVersion writes or deletes whatever version the key is at (and,
	// for a write, whether or not it exists).
	AnyVersion int32 = tree.AnyVersion
	// CreateOnly requires the key to be absent: the write creates it, or
	// fails with ErrConflict. Counter.Get returns it as the version of a
	// counter that does not exist yet.
	CreateOnly int32 = -2
)

// checkVersion refuses version arguments other than AnyVersion, CreateOnly
// and versions >= 0.
func checkVersion(v int32) error {
	if v < CreateOnly {
		return fmt.Errorf("%w: %d", ErrBadVersion, v)
	}
	return nil
}

// joinPath returns parent + "/" + rel, with no double slash under "/".
func joinPath(parent, rel string) string {
	if rel == "" {
		return parent
	}
	if parent == "/" {
		return "/" + rel
	}
	return parent + "/" + rel
}

// parentOf returns the parent of an absolute path ("/" for "/a").
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// depth returns the number of elements of an absolute path ("/" is 0).
func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// checkRoot validates an absolute prefix or counter path.
func checkRoot(p string) error {
	if err := tree.ValidatePath(p, false); err != nil {
		return fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return nil
}

// path returns the znode path of key, which must name a key (not "").
func (s *Store) path(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("%w: empty key", ErrBadKey)
	}
	return s.subtree(key)
}

// subtree returns the znode path of key, where "" names the prefix itself
// (the whole store), as Watch, List and NewCache accept.
func (s *Store) subtree(key string) (string, error) {
	if key == "" {
		return s.root, nil
	}
	p := joinPath(s.root, key)
	if err := tree.ValidatePath(p, false); err != nil || strings.HasPrefix(key, "/") {
		if err == nil {
			err = fmt.Errorf("key starts with /")
		}
		return "", fmt.Errorf("%w: %q: %w", ErrBadKey, key, err)
	}
	return p, nil
}

// key returns the key of the znode path p under the prefix, or false if p
// is the prefix itself or not under it.
func (s *Store) key(p string) (string, bool) {
	if s.root == "/" {
		if len(p) > 1 && p[0] == '/' {
			return p[1:], true
		}
		return "", false
	}
	if len(p) > len(s.root)+1 && strings.HasPrefix(p, s.root) && p[len(s.root)] == '/' {
		return p[len(s.root)+1:], true
	}
	return "", false
}
