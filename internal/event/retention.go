package event

import (
	"context"
	"log/slog"
	"time"

	"github.com/rollcall/rollcall/ent/privacy"
)

// Retention defaults.
const (
	DefaultRetention     = 30 * 24 * time.Hour
	DefaultPruneInterval = time.Hour
	pruneBatch           = 1000
)

// Retain deletes the events older than retention when it starts and then
// every interval, on the log's clock, until ctx ends. Every replica runs
// it: the deletes are batched and idempotent, so replicas pruning at once
// only repeat a cheap read. Zero values take the defaults.
func (l *Log) Retain(ctx context.Context, retention, interval time.Duration) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	if interval <= 0 {
		interval = DefaultPruneInterval
	}
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	t := l.clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		cutoff := l.clock.Now().Add(-retention)
		n, err := l.Prune(sys, cutoff, pruneBatch)
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.WarnContext(ctx, "prune events", slog.String("error", err.Error()))
		case n > 0:
			l.log.InfoContext(ctx, "pruned events", slog.Int("deleted", n), slog.Time("before", cutoff))
		}
		t.Reset(interval)
	}
}
