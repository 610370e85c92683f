package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	a := newApp(os.Stdin, os.Stdout, os.Stderr)
	a.getenv = os.Getenv
	a.notify = func(ctx context.Context) (context.Context, context.CancelFunc) {
		return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	}
	os.Exit(a.run(context.Background(), os.Args[1:]))
}
