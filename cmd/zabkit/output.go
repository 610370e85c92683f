package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// printer writes command results as zkCli-style text or, with json set, as
// one JSON object per result.
type printer struct {
	w    io.Writer
	json bool
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// emit writes v as JSON, or calls text to write it as text.
func (p printer) emit(v any, text func(w io.Writer) error) error {
	if p.json {
		return writeJSON(p.w, v)
	}
	return text(p.w)
}

// statJSON is tree.Stat with ZooKeeper's field names.
type statJSON struct {
	Czxid          int64 `json:"cZxid"`
	Ctime          int64 `json:"ctime"`
	Mzxid          int64 `json:"mZxid"`
	Mtime          int64 `json:"mtime"`
	Pzxid          int64 `json:"pZxid"`
	Cversion       int32 `json:"cversion"`
	DataVersion    int32 `json:"dataVersion"`
	AclVersion     int32 `json:"aclVersion"`
	EphemeralOwner int64 `json:"ephemeralOwner"`
	DataLength     int32 `json:"dataLength"`
	NumChildren    int32 `json:"numChildren"`
}

func toStatJSON(st tree.Stat) *statJSON {
	return &statJSON{
		Czxid:          int64(st.Czxid),
		Ctime:          st.Ctime,
		Mzxid:          int64(st.Mzxid),
		Mtime:          st.Mtime,
		Pzxid:          int64(st.Pzxid),
		Cversion:       st.Cversion,
		DataVersion:    st.Version,
		AclVersion:     st.Aversion,
		EphemeralOwner: int64(st.EphemeralOwner),
		DataLength:     st.DataLength,
		NumChildren:    st.NumChildren,
	}
}

// zkTime formats ms since the epoch as Java's Date.toString does, which is
// what zkCli prints: "Tue Mar 05 10:15:30 UTC 2024".
func zkTime(ms int64) string {
	return time.UnixMilli(ms).Format("Mon Jan 02 15:04:05 MST 2006")
}

// writeStat writes st as zkCli's `name = value` lines.
func writeStat(w io.Writer, st tree.Stat) error {
	_, err := fmt.Fprintf(w, ""+
		"cZxid = %s\n"+
		"ctime = %s\n"+
		"mZxid = %s\n"+
		"mtime = %s\n"+
		"pZxid = %s\n"+
		"cversion = %d\n"+
		"dataVersion = %d\n"+
		"aclVersion = %d\n"+
		"ephemeralOwner = %s\n"+
		"dataLength = %d\n"+
		"numChildren = %d\n",
		st.Czxid, zkTime(st.Ctime), st.Mzxid, zkTime(st.Mtime), st.Pzxid,
		st.Cversion, st.Version, st.Aversion, st.EphemeralOwner, st.DataLength, st.NumChildren)
	return err
}

// nodeJSON is the JSON result of get, set, stat, ls and create.
type nodeJSON struct {
	Path       string    `json:"path"`
	Data       *string   `json:"data,omitempty"`
	DataBase64 *string   `json:"dataBase64,omitempty"`
	Children   *[]string `json:"children,omitempty"`
	Stat       *statJSON `json:"stat,omitempty"`
}

// setData fills Data, or DataBase64 when data is not valid UTF-8.
func (n *nodeJSON) setData(data []byte) {
	if utf8.Valid(data) {
		s := string(data)
		n.Data = &s
		return
	}
	s := base64.StdEncoding.EncodeToString(data)
	n.DataBase64 = &s
}

// zkList formats names as zkCli prints a list: "[a, b, c]".
func zkList(names []string) string {
	return "[" + strings.Join(names, ", ") + "]"
}

// eventJSON is a watch event as JSON.
type eventJSON struct {
	Type string `json:"type"`
	Path string `json:"path"`
	Zxid int64  `json:"zxid"`
}

// writeEvent writes one watch event; prefix goes before the text form.
func (p printer) writeEvent(ev client.Event, prefix string) error {
	return p.emit(eventJSON{Type: ev.Type.String(), Path: ev.Path, Zxid: int64(ev.Zxid)}, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%sWatchedEvent type:%s path:%s zxid:%s\n", prefix, ev.Type, ev.Path, ev.Zxid)
		return err
	})
}
