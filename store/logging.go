package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

func discardLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// gormLogger routes gorm's log through logrus: errors (other than not-found)
// and slow queries at warn, everything else at trace. SQL text is logged
// without bound values, which may carry phones and emails.
type gormLogger struct {
	log  logrus.FieldLogger
	slow time.Duration
}

func (g gormLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return g }

// ParamsFilter keeps bound values out of logged SQL (gorm asks loggers that
// implement it before interpolating).
func (g gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (g gormLogger) Info(_ context.Context, msg string, args ...any) {
	g.log.WithField("component", "gorm").Debugf(msg, args...)
}

func (g gormLogger) Warn(_ context.Context, msg string, args ...any) {
	g.log.WithField("component", "gorm").Warnf(msg, args...)
}

func (g gormLogger) Error(_ context.Context, msg string, args ...any) {
	g.log.WithField("component", "gorm").Errorf(msg, args...)
}

func (g gormLogger) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, context.Canceled):
		sql, rows := fc()
		g.log.WithFields(logrus.Fields{"component": "gorm", "duration": elapsed, "rows": rows, "sql": firstLine(sql)}).
			WithError(err).Debug("query failed")
	case g.slow > 0 && elapsed > g.slow:
		sql, rows := fc()
		g.log.WithFields(logrus.Fields{"component": "gorm", "duration": elapsed, "rows": rows, "sql": firstLine(sql)}).
			Warn("slow query")
	}
}

func firstLine(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexByte(sql, '\n'); i >= 0 {
		sql = sql[:i] + " …"
	}
	if len(sql) > 200 {
		sql = sql[:200] + " …"
	}
	return sql
}

// gooseLogger routes goose's messages through logrus.
type gooseLogger struct{ log logrus.FieldLogger }

func (g gooseLogger) Printf(format string, v ...any) {
	g.log.WithField("component", "migrate").Info(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (g gooseLogger) Fatalf(format string, v ...any) {
	g.log.WithField("component", "migrate").Error(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
