package schedule

import (
	"fmt"
	"io"

	"github.com/sirupsen/logrus"
)

func discardLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// cronLogger adapts a logrus.FieldLogger to cron.Logger. Cron's routine
// messages (start, wake, schedule) go to debug; a skipped tick to warn; an
// error (a recovered panic, with its stack) to error.
type cronLogger struct{ log logrus.FieldLogger }

func (l cronLogger) Info(msg string, keysAndValues ...any) {
	e := l.log.WithFields(fields(keysAndValues))
	if msg == "skip" {
		e.Warn("tick skipped: the previous run of the job is still running in this process")
		return
	}
	e.Debug("cron: " + msg)
}

func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.log.WithFields(fields(keysAndValues)).WithError(err).Error("cron: " + msg)
}

func fields(kv []any) logrus.Fields {
	f := logrus.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[fmt.Sprint(kv[i])] = kv[i+1]
	}
	if len(kv)%2 == 1 {
		f["extra"] = kv[len(kv)-1]
	}
	return f
}
