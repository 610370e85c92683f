package tree

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidatePath reports whether path is a valid znode path by the rules of
// ZooKeeper's PathUtils.validatePath: it starts with "/", does not end with
// "/" (except the root "/" itself), has no empty, "." or ".." segments, and
// holds no null character, no control character (U+0001-U+001F,
// U+007F-U+009F) and none of U+D800-U+F8FF or U+FFF0-U+FFFF. Like Java,
// which sees a supplementary character as two surrogates, it refuses every
// character above U+FFFF, and it refuses bytes that are not UTF-8 (Java
// would have read them as U+FFFD).
//
// With sequential set, path is checked as the prefix of a sequential
// create, that is as if a digit were appended: "/a/" is then valid (it
// names the node "/a/0000000001").
//
// It returns nil or an error wrapping ErrBadArguments that says what is
// wrong and at which byte offset.
func ValidatePath(path string, sequential bool) error {
	if reason, at := checkPath(path, sequential); reason != "" {
		if at < 0 {
			return fmt.Errorf("%w: invalid path %q: %s", ErrBadArguments, path, reason)
		}
		return fmt.Errorf("%w: invalid path %q: %s at byte %d", ErrBadArguments, path, reason, at)
	}
	return nil
}

// checkPath returns "" if path is valid, else the reason and the offset
// (-1 when none applies). With seq set it checks path+"1" without building it.
func checkPath(path string, seq bool) (string, int) {
	n := len(path)
	if seq {
		n++
	}
	if n == 0 {
		return "path must not be empty", -1
	}
	if len(path) == 0 || path[0] != '/' {
		return "path must start with /", 0
	}
	if n == 1 {
		return "", 0 // the root
	}
	if !seq && path[len(path)-1] == '/' {
		return "path must not end with /", len(path) - 1
	}
	// at returns the byte at i of the checked string (path, plus '1' when seq).
	at := func(i int) byte {
		if i < len(path) {
			return path[i]
		}
		return '1'
	}
	last := rune('/')
	for i := 1; i < len(path); {
		c := path[i]
		if c < utf8.RuneSelf {
			switch {
			case c == 0:
				return "null character not allowed", i
			case c == '/' && last == '/':
				return "empty node name", i
			case c == '.' && last == '.':
				if path[i-2] == '/' && (i+1 == n || at(i+1) == '/') {
					return "relative paths not allowed", i
				}
			case c == '.':
				if path[i-1] == '/' && (i+1 == n || at(i+1) == '/') {
					return "relative paths not allowed", i
				}
			case c <= 0x1f || c == 0x7f:
				return "invalid character", i
			}
			last = rune(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(path[i:])
		if badRune(r, size) {
			return "invalid character", i
		}
		last = r
		i += size
	}
	return "", 0
}

// badRune reports whether a non-ASCII rune (as decoded, with its size) is
// refused in a path.
func badRune(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size <= 1:
		return true // not UTF-8
	case r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0xd800 && r <= 0xf8ff:
		return true
	case r >= 0xfff0:
		return true // includes everything above U+FFFF (surrogate pairs in Java)
	}
	return false
}

// validName reports whether name is a valid last segment of a path, that
// is whether "/"+name is a valid path.
func validName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			if c <= 0x1f || c == 0x7f || c == '/' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(name[i:])
		if badRune(r, size) {
			return false
		}
		i += size
	}
	return true
}

// splitPath returns the parent path and the last segment of a valid path
// other than "/".
func splitPath(path string) (parent, name string) {
	i := strings.LastIndexByte(path, '/')
	if i == 0 {
		return "/", path[1:]
	}
	return path[:i], path[i+1:]
}

// nextSegment returns the segment of path starting at byte i (just after a
// '/') and the index just past it and its trailing '/', or -1 at the end.
func nextSegment(path string, i int) (seg string, next int) {
	j := strings.IndexByte(path[i:], '/')
	if j < 0 {
		return path[i:], -1
	}
	return path[i : i+j], i + j + 1
}
