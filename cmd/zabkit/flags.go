package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// durationValue is a flag that takes a Go duration ("1.5s", "2m") or a
// plain number of milliseconds ("1500"), as ZooKeeper's settings are.
type durationValue time.Duration

func newDurationValue(d time.Duration, p *time.Duration) *durationValue {
	*p = d
	return (*durationValue)(p)
}

// parseDuration reads s as a Go duration or as milliseconds.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 || ms > int64(time.Duration(1<<63-1)/time.Millisecond) {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 1500ms, 2s, 5m or plain milliseconds)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) Type() string { return "duration" }

// String returns the duration, "0" for none (which help then leaves out).
func (d *durationValue) String() string {
	if *d == 0 {
		return "0"
	}
	return time.Duration(*d).String()
}

// splitServers parses "host:port,host:port".
func splitServers(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
