package tree

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckOp(t *testing.T) {
	big := make([]byte, 11)
	tests := []struct {
		name string
		op   Op
		ok   bool
	}{
		{"create", Op{Type: OpCreate, Path: "/a"}, true},
		{"sequential parent form", Op{Type: OpCreate, Path: "/a/", Mode: ModePersistentSequential}, true},
		{"trailing slash, not sequential", Op{Type: OpCreate, Path: "/a/"}, false},
		{"bad mode", Op{Type: OpCreate, Path: "/a", Mode: 99}, false},
		{"TTL mode without TTL", Op{Type: OpCreate, Path: "/a", Mode: ModePersistentWithTTL}, false},
		{"TTL over the limit", Op{Type: OpCreate, Path: "/a", Mode: ModePersistentWithTTL, TTL: MaxTTL + 1}, false},
		{"TTL in range", Op{Type: OpCreate, Path: "/a", Mode: ModePersistentWithTTL, TTL: MaxTTL}, true},
		{"TTL on a plain node", Op{Type: OpCreate, Path: "/a", TTL: 5}, false},
		{"data over the limit", Op{Type: OpSetData, Path: "/a", Data: big}, false},
		{"data at the limit", Op{Type: OpSetData, Path: "/a", Data: big[:10]}, true},
		{"delete bad path", Op{Type: OpDelete, Path: "a"}, false},
		{"check", Op{Type: OpCheck, Path: "/a", Version: 3}, true},
		{"unknown op", Op{Type: 77, Path: "/a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckOp(&tt.op, 10)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrBadArguments)
			}
		})
	}
}
