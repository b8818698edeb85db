package main

import (
	"context"
	"log/slog"

	"github.com/ticketq/ticketq/internal/logfield"
)

// msDurations is a slog.Handler that writes every time.Duration attribute
// the ticketq way (see package logfield): "grace" becomes "grace_ms" in
// milliseconds. The client's Worker logs durations through slog, and
// zerolog's slog handler would write them as bare numbers.
type msDurations struct{ next slog.Handler }

func (h msDurations) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h msDurations) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(msAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h msDurations) WithAttrs(as []slog.Attr) slog.Handler {
	conv := make([]slog.Attr, len(as))
	for i, a := range as {
		conv[i] = msAttr(a)
	}
	return msDurations{h.next.WithAttrs(conv)}
}

func (h msDurations) WithGroup(name string) slog.Handler { return msDurations{h.next.WithGroup(name)} }

// msAttr converts a duration attribute, and those inside a group.
func msAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindDuration:
		return slog.Float64(a.Key+"_ms", logfield.Millis(v.Duration()))
	case slog.KindGroup:
		g := v.Group()
		conv := make([]any, len(g))
		for i, m := range g {
			conv[i] = msAttr(m)
		}
		return slog.Group(a.Key, conv...)
	}
	return slog.Attr{Key: a.Key, Value: v}
}
