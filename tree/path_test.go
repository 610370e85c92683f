package tree

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidatePath(t *testing.T) {
	tests := []struct {
		path string
		seq  bool
		ok   bool
	}{
		{"/", false, true},
		{"/a", false, true},
		{"/a/b/c", false, true},
		{"/a.b", false, true},
		{"/.a", false, true},
		{"/a.", false, true},
		{"/...", false, true},
		{"/a/..b", false, true},
		{"/a/b..", false, true},
		{"/zookeeper", false, true},
		{"/ünïcödé/日本語", false, true},
		{"/a b", false, true},
		{"/\u00a0", false, true},       // just above the C1 controls
		{"/\u00a0\uf900", false, true}, // just above the private use area
		{"/\uffef", false, true},       // just below U+FFF0

		{"", false, false},
		{"a", false, false},
		{"a/b", false, false},
		{"//", false, false},
		{"/a/", false, false},
		{"/a//b", false, false},
		{"//a", false, false},
		{"/.", false, false},
		{"/..", false, false},
		{"/a/.", false, false},
		{"/a/..", false, false},
		{"/a/./b", false, false},
		{"/a/../b", false, false},
		{"/./a", false, false},
		{"/a\x00b", false, false},
		{"/a\x01", false, false},
		{"/a\x1f", false, false},
		{"/a\x7f", false, false},
		{"/a\u0080", false, false},
		{"/a\u009f", false, false},
		{"/a\ud7ff", false, true},  // below the surrogates
		{"/a\ue000", false, false}, // private use
		{"/a\uf8ff", false, false},
		{"/a\ufff0", false, false},
		{"/a\ufffd", false, false},
		{"/a\uffff", false, false},
		{"/a\U0001F600", false, false},   // a surrogate pair in Java
		{"/a\xff", false, false},         // not UTF-8
		{"/a\xed\xa0\x80", false, false}, // an encoded surrogate
		{"/a\tb", false, false},
		{"/a\nb", false, false},

		// Sequential: checked as if a digit followed.
		{"/", true, true},
		{"/a/", true, true},
		{"/a/b", true, true},
		{"/a/.", true, true},
		{"/a/..", true, true},
		{"/a/.", false, false},
		{"", true, false},
		{"a", true, false},
		{"//", true, false},
		{"/a//", true, false},
		{"/a/./", true, false},
		{"/a/../", true, false},
		{"/a\x00", true, false},
	}
	for _, tt := range tests {
		err := ValidatePath(tt.path, tt.seq)
		if tt.ok {
			assert.NoError(t, err, "%q seq=%v", tt.path, tt.seq)
		} else {
			assert.ErrorIs(t, err, ErrBadArguments, "%q seq=%v", tt.path, tt.seq)
		}
		if !tt.seq && tt.path != "/" && strings.HasPrefix(tt.path, "/") && !strings.Contains(tt.path[1:], "/") {
			assert.Equal(t, tt.ok, validName(tt.path[1:]), "validName(%q)", tt.path[1:])
		}
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"/", "/a", "/a/", "/a/..", "/a/.b", "/\u00e9", "/\U0001F600", "/a\x00"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, path string, seq bool) {
		err := ValidatePath(path, seq)
		if seq {
			// Sequential is exactly "as if a digit were appended".
			assert.Equal(t, err == nil, ValidatePath(path+"1", false) == nil)
		}
		if err != nil || seq || path == "/" {
			return
		}
		// Every segment of a valid path is a valid name.
		for _, seg := range strings.Split(path[1:], "/") {
			assert.True(t, validName(seg), "%q in %q", seg, path)
		}
	})
}
