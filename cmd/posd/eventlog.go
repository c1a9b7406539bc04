package main

import (
	"bytes"
	"context"
	"log/slog"
	"sync"

	"github.com/kardianos/service"
)

// eventLogHandler writes log records to the system log of the service
// manager (the Windows Event Log), formatted as slog's text lines.
type eventLogHandler struct {
	mu    *sync.Mutex
	buf   *bytes.Buffer
	text  slog.Handler
	sink  service.Logger
	level slog.Level
}

func newEventLogHandler(sink service.Logger, level string) slog.Handler {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	buf := new(bytes.Buffer)
	return &eventLogHandler{mu: new(sync.Mutex), buf: buf, sink: sink, level: l,
		text: slog.NewTextHandler(buf, &slog.HandlerOptions{Level: l, ReplaceAttr: dropTime})}
}

// dropTime leaves the time out: the Event Log stamps every entry itself.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func (h *eventLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *eventLogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	line := string(bytes.TrimRight(h.buf.Bytes(), "\n"))
	switch {
	case r.Level >= slog.LevelError:
		return h.sink.Error(line)
	case r.Level >= slog.LevelWarn:
		return h.sink.Warning(line)
	}
	return h.sink.Info(line)
}

func (h *eventLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(as)
	return &c
}

func (h *eventLogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}
