package membership

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{ID: 7, ClusterID: "zabkit", PeerAddr: "10.0.0.7:2888", ClientAddr: "[::1]:2181"}
	b, err := encodeMeta(m)
	require.NoError(t, err)
	got, err := decodeMeta(b)
	require.NoError(t, err)
	assert.Equal(t, m, got)

	m.ClientAddr = ""
	b, err = encodeMeta(m)
	require.NoError(t, err)
	got, err = decodeMeta(b)
	require.NoError(t, err)
	assert.Equal(t, m, got)
}

func TestEncodeMetaRefuses(t *testing.T) {
	for name, m := range map[string]Meta{
		"no cluster":    {ID: 1, PeerAddr: "h:1"},
		"no peer addr":  {ID: 1, ClusterID: "c"},
		"peer no port":  {ID: 1, ClusterID: "c", PeerAddr: "h"},
		"peer no host":  {ID: 1, ClusterID: "c", PeerAddr: ":1"},
		"bad client":    {ID: 1, ClusterID: "c", PeerAddr: "h:1", ClientAddr: "h:99999"},
		"too long meta": {ID: 1, ClusterID: strings.Repeat("c", MaxMetaBytes), PeerAddr: "h:1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := encodeMeta(m)
			assert.ErrorIs(t, err, ErrConfig)
		})
	}
}

func TestDecodeMetaRefuses(t *testing.T) {
	for name, b := range map[string]string{
		"empty":         "",
		"too long":      `{"id":1,"c":"` + strings.Repeat("x", MaxMetaBytes) + `","p":"h:1"}`,
		"msgpack":       "\x83\xa2id\x01",
		"null":          "null",
		"array":         `[1,2]`,
		"negative id":   `{"id":-1,"c":"z","p":"h:1"}`,
		"float id":      `{"id":1.5,"c":"z","p":"h:1"}`,
		"huge id":       `{"id":18446744073709551616,"c":"z","p":"h:1"}`,
		"no cluster":    `{"id":1,"p":"h:1"}`,
		"bad peer":      `{"id":1,"c":"z","p":"nope"}`,
		"trailing data": `{"id":1,"c":"z","p":"h:1"} x`,
		"wrong type":    `{"id":"1","c":"z","p":"h:1"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeMeta([]byte(b))
			assert.ErrorIs(t, err, ErrBadMeta)
		})
	}
}

func FuzzDecodeMeta(f *testing.F) {
	good, err := encodeMeta(Meta{ID: 3, ClusterID: "zabkit", PeerAddr: "127.0.0.1:2888", ClientAddr: "127.0.0.1:2181"})
	require.NoError(f, err)
	for _, s := range [][]byte{good, []byte("null"), []byte(`{"id":1}`), []byte(`{"id":1,"c":"z","p":"h:1","x":[1,2,{}]}`), []byte("\xff\x00"), []byte(" {}")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrBadMeta) {
				t.Fatalf("error %v does not wrap ErrBadMeta", err)
			}
			return
		}
		// Whatever decodes is valid meta and survives a round trip.
		again, err := encodeMeta(m)
		if err != nil {
			// Only the size may differ: json.Marshal escapes <, > and &
			// that arrived unescaped, so the re-encoding can be longer.
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("re-encode: %v", err)
			}
			return
		}
		back, err := decodeMeta(again)
		if err != nil || back != m {
			t.Fatalf("round trip: %+v -> %+v, %v", m, back, err)
		}
	})
}
