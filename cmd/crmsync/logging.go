package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"
	"golang.org/x/term"
)

// newLogger returns the process logger: text on a terminal, JSON otherwise,
// unless format says which. Fields such as run_id, job and window are added
// by the callers.
func newLogger(format, level string, out io.Writer) (*logrus.Logger, error) {
	l := logrus.New()
	l.SetOutput(out)
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	l.SetLevel(lvl)
	switch format {
	case "auto":
		if isTerminal(out) {
			l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "15:04:05"})
		} else {
			l.SetFormatter(&logrus.JSONFormatter{})
		}
	case "text":
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: !isTerminal(out)})
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, fmt.Errorf("--log-format: %q is not one of auto, text, json", format)
	}
	return l, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
