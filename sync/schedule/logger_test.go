package schedule

import (
	"testing"

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"
)

// Cron's Recover wrapper is the last line of defence (Runner recovers step
// panics itself): what it catches must reach the log with its stack.
func TestCronLogger_Error_recoveredPanicKeepsStack(t *testing.T) {
	t.Parallel()
	log, hook := test.NewNullLogger()
	l := cronLogger{log: log.WithField("job", "j")}
	require.NotPanics(t, func() {
		cron.Recover(l)(cron.FuncJob(func() { panic("boom") })).Run()
	})
	e := hook.LastEntry()
	require.NotNil(t, e)
	require.Equal(t, logrus.ErrorLevel, e.Level)
	require.Equal(t, "cron: panic", e.Message)
	require.Equal(t, "j", e.Data["job"])
	require.EqualError(t, e.Data[logrus.ErrorKey].(error), "boom")
	require.Contains(t, e.Data["stack"], "logger_test.go")
}

func TestCronLogger_Info_levels(t *testing.T) {
	t.Parallel()
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	l := cronLogger{log: log}
	l.Info("wake", "now", "x")
	l.Info("skip")
	l.Info("odd", "lonely")
	entries := hook.AllEntries()
	require.Len(t, entries, 3)
	require.Equal(t, logrus.DebugLevel, entries[0].Level)
	require.Equal(t, "cron: wake", entries[0].Message)
	require.Equal(t, "x", entries[0].Data["now"])
	require.Equal(t, logrus.WarnLevel, entries[1].Level)
	require.Equal(t, "tick skipped: the previous run of the job is still running in this process", entries[1].Message)
	require.Equal(t, "lonely", entries[2].Data["extra"])
}
