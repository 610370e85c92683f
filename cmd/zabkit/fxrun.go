package main

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// startTimeout bounds a peer's start: recovery of a large snapshot and log.
const startTimeout = 10 * time.Minute

// runFx builds an fx app from opts, starts it, calls started, runs until
// ctx ends, then stops it within stopTimeout. fx's own events go to logger
// at debug level. Errors of construction, start and stop are returned.
func runFx(ctx context.Context, logger *slog.Logger, stopTimeout time.Duration, started func(), opts ...fx.Option) error {
	opts = append(opts, fx.WithLogger(func() fxevent.Logger {
		l := &fxevent.SlogLogger{Logger: logger}
		l.UseLogLevel(slog.LevelDebug)
		return l
	}))
	app := fx.New(opts...)
	if err := app.Err(); err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return err
	}
	started()
	<-ctx.Done()
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancelStop()
	return app.Stop(stopCtx)
}
