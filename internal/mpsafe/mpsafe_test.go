package mpsafe

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

type sample struct {
	A string            `msgpack:"a"`
	B []byte            `msgpack:"b"`
	C []int64           `msgpack:"c"`
	D map[string]uint32 `msgpack:"d"`
	E [][]string        `msgpack:"e"`
	F float64           `msgpack:"f"`
	G bool              `msgpack:"g"`
	H *sample           `msgpack:"h"`
}

func TestCheckAcceptsWellFormed(t *testing.T) {
	v := sample{A: "x", B: make([]byte, 300), C: []int64{-1, 1 << 40, 7}, D: map[string]uint32{"k": 70000},
		E: [][]string{{"a", "bb"}, nil}, F: 1.5, G: true, H: &sample{A: "inner"}}
	b, err := msgpack.Marshal(&v)
	require.NoError(t, err)
	require.NoError(t, Check(b))
	n, err := CheckPrefix(append(b, 0x01), DefaultMaxDepth)
	require.NoError(t, err)
	assert.Equal(t, len(b), n)
}

func TestCheckRejectsHostile(t *testing.T) {
	deep := make([]byte, 0, 100)
	for i := 0; i < 100; i++ {
		deep = append(deep, 0x91) // fixarray of 1, nested
	}
	deep = append(deep, 0x00)
	cases := map[string][]byte{
		"empty":                   {},
		"array32 claims 2^31":     {0xdd, 0x80, 0x00, 0x00, 0x00},
		"map32 claims 2^31":       {0xdf, 0x80, 0x00, 0x00, 0x00},
		"str32 claims 4 GiB":      {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
		"bin32 claims more":       {0xc6, 0x00, 0x00, 0x01, 0x00, 1, 2, 3},
		"ext32 claims more":       {0xc9, 0x00, 0x10, 0x00, 0x00, 1},
		"truncated int64":         {0xd3, 0, 0, 0},
		"truncated length":        {0xdc, 0x00},
		"reserved 0xc1":           {0xc1},
		"trailing bytes":          {0x01, 0x02},
		"fixarray missing items":  {0x93, 0x01},
		"nesting too deep":        deep,
		"fixmap missing value":    {0x81, 0xa1, 'k'},
		"fixstr longer than body": {0xa5, 'a', 'b'},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			err := Check(b)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func FuzzCheck(f *testing.F) {
	b, _ := msgpack.Marshal(&sample{A: "seed", C: []int64{1, 2}, D: map[string]uint32{"a": 1}})
	f.Add(b)
	f.Add([]byte{0xdd, 0x80, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		if Check(b) != nil {
			return
		}
		// Whatever passes the check must decode without panicking and
		// without allocating more than the body could describe.
		var v any
		_ = msgpack.Unmarshal(b, &v)
	})
}
