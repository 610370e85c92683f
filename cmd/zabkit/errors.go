package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// pathError ties an operation's error to the path it was about, so that the
// message can name it as ZooKeeper's do.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// onPath wraps a non-nil err with path.
func onPath(path string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pathError
	if errors.As(err, &pe) {
		return err
	}
	return &pathError{path: path, err: err}
}

// connectError says which servers could not be reached.
type connectError struct {
	servers []string
	err     error
}

func (e *connectError) Error() string {
	return "cannot connect to " + strings.Join(e.servers, ",") + ": " + e.err.Error()
}
func (e *connectError) Unwrap() error { return e.err }

// errorReport is what a failed operation prints: Message on stderr, or the
// whole struct as JSON with --json.
type errorReport struct {
	Message string `json:"error"`
	Code    string `json:"code"`
	Path    string `json:"path,omitempty"`
}

// describe turns err into ZooKeeper-like wording, a stable code name, and
// the path it concerns.
func describe(err error) errorReport {
	var path string
	var pe *pathError
	if errors.As(err, &pe) {
		path = pe.path
	}
	r := errorReport{Path: path}
	set := func(code, msg string) { r.Code, r.Message = code, msg }
	switch {
	case errors.Is(err, tree.ErrNoNode):
		set("NoNode", "Node does not exist: "+path)
	case errors.Is(err, tree.ErrNodeExists):
		set("NodeExists", "Node already exists: "+path)
	case errors.Is(err, tree.ErrBadVersion):
		set("BadVersion", "Version does not match: "+path)
	case errors.Is(err, tree.ErrNotEmpty):
		set("NotEmpty", "Directory not empty for "+path)
	case errors.Is(err, tree.ErrNoChildrenForEphemerals):
		set("NoChildrenForEphemerals", "Ephemerals cannot have children: "+path)
	case errors.Is(err, tree.ErrSequenceOverflow):
		set("SequenceOverflow", "Sequential counter exhausted: "+path)
	case errors.Is(err, tree.ErrBadArguments):
		set("BadArguments", "Bad arguments: "+detail(err, tree.ErrBadArguments, path))
	case errors.Is(err, tree.ErrNoSession):
		set("NoSession", "Session does not exist")
	case errors.Is(err, wire.ErrSessionExpired):
		set("SessionExpired", "Session expired")
	case errors.Is(err, wire.ErrTooManyConnections):
		set("TooManyConnections", "Too many connections from this address")
	case errors.Is(err, wire.ErrTooManyRequests):
		set("TooManyRequests", "Too many outstanding requests")
	case errors.Is(err, wire.ErrFrameTooLarge):
		set("FrameTooLarge", "Request or reply too large")
	case errors.Is(err, wire.ErrShuttingDown):
		set("ShuttingDown", "Server shutting down")
	case errors.Is(err, wire.ErrUnimplemented):
		set("Unimplemented", "Operation not implemented by the server")
	case errors.Is(err, context.Canceled):
		set("Interrupted", "Interrupted")
	case isConnectionLoss(err):
		msg := "Connection loss"
		var ce *connectError
		if errors.As(err, &ce) {
			msg += ": cannot reach " + strings.Join(ce.servers, ",") + " (is `zabkit dev` or `zabkit server` running?)"
		}
		set("ConnectionLoss", msg)
	case errors.Is(err, context.DeadlineExceeded):
		set("Timeout", "Timed out")
	default:
		msg := err.Error()
		if path != "" {
			msg = fmt.Sprintf("Error: %s", msg)
		}
		set("Error", capitalize(msg))
	}
	return r
}

func isConnectionLoss(err error) bool {
	var ce *connectError
	return errors.Is(err, client.ErrConnectionLoss) || errors.Is(err, client.ErrNoServer) ||
		errors.Is(err, client.ErrClosed) || errors.As(err, &ce)
}

// detail returns what err says beyond the sentinel, e.g. "path must not end
// with /" from "tree: bad arguments: path must not end with /", prefixed by
// path when known.
func detail(err, sentinel error, path string) string {
	msg := err.Error()
	var pe *pathError
	if errors.As(err, &pe) {
		msg = pe.err.Error()
	}
	msg = strings.TrimPrefix(msg, sentinel.Error())
	msg = strings.TrimLeft(msg, ": ")
	switch {
	case msg == "" && path == "":
		return "invalid request"
	case msg == "":
		return path
	case path == "":
		return msg
	}
	return path + ": " + msg
}
