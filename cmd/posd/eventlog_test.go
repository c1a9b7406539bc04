package main

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

type fakeSink struct{ lines []string }

func (f *fakeSink) Error(v ...any) error {
	f.lines = append(f.lines, "E "+fmt.Sprint(v...))
	return nil
}
func (f *fakeSink) Warning(v ...any) error {
	f.lines = append(f.lines, "W "+fmt.Sprint(v...))
	return nil
}
func (f *fakeSink) Info(v ...any) error { f.lines = append(f.lines, "I "+fmt.Sprint(v...)); return nil }
func (f *fakeSink) Errorf(s string, a ...any) error {
	return f.Error(fmt.Sprintf(s, a...))
}
func (f *fakeSink) Warningf(s string, a ...any) error { return f.Warning(fmt.Sprintf(s, a...)) }
func (f *fakeSink) Infof(s string, a ...any) error    { return f.Info(fmt.Sprintf(s, a...)) }

func TestEventLogHandler(t *testing.T) {
	sink := &fakeSink{}
	log := slog.New(newEventLogHandler(sink, "info")).With("till", "t1")
	log.Debug("hidden")
	log.Info("ready", "api", "127.0.0.1:8421")
	log.Warn("scanner disconnected")
	log.Error("journal", "err", "disk full")
	assert.Equal(t, []string{
		`I level=INFO msg=ready till=t1 api=127.0.0.1:8421`,
		`W level=WARN msg="scanner disconnected" till=t1`,
		`E level=ERROR msg=journal till=t1 err="disk full"`,
	}, sink.lines)
}
