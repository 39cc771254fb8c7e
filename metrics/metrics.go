// Package metrics holds crmsync's Prometheus series in one Registry of its
// own (never the global default), with one typed method per thing the code
// observes, so series names and labels are defined in one place.
//
// A nil *Registry is valid: every method is then a no-op, so stages can be
// tested and run without metrics.
//
// The package is a leaf: it imports only the Prometheus client and the
// standard library. Callers adapt their own types (an API client's request
// info, a store's window lag) to the methods here.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Series names, stable: dashboards and alerts use them.
const (
	RunsTotal           = "crmsync_runs_total"
	StepDurationSeconds = "crmsync_step_duration_seconds"
	APIRequestsTotal    = "crmsync_api_requests_total"
	APIRequestSeconds   = "crmsync_api_request_duration_seconds"
	APIRateLimitedTotal = "crmsync_api_rate_limited_total"
	RowsUpsertedTotal   = "crmsync_rows_upserted_total"
	PushRejectionsTotal = "crmsync_push_rejections_total"
	WindowLagSeconds    = "crmsync_window_lag_seconds"
	LastSuccessSeconds  = "crmsync_job_last_success_timestamp_seconds"
	RunsInProgress      = "crmsync_runs_in_progress"
	WindowsGaveUp       = "crmsync_windows_gave_up"
	WindowDataGaps      = "crmsync_window_data_gaps"
	WindowMissingRows   = "crmsync_window_missing_rows"
)

// Registry is crmsync's set of Prometheus series. Create it with New; the
// zero value is not usable, but a nil *Registry is (every method is a no-op).
type Registry struct {
	reg          *prometheus.Registry
	runs         *prometheus.CounterVec
	inProgress   *prometheus.GaugeVec
	lastSuccess  *prometheus.GaugeVec
	stepDuration *prometheus.HistogramVec
	apiRequests  *prometheus.CounterVec
	apiDuration  *prometheus.HistogramVec
	rateLimited  *prometheus.CounterVec
	rowsUpserted *prometheus.CounterVec
	rejections   *prometheus.CounterVec
	windowLag    *prometheus.GaugeVec
	gaveUp       *prometheus.GaugeVec
	dataGaps     *prometheus.GaugeVec
	missingRows  *prometheus.GaugeVec
}

// New returns a Registry with every crmsync series registered, plus the Go
// runtime and process collectors.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RunsTotal,
			Help: "Job runs that ended, by job and status (ok, failed, skipped, interrupted).",
		}, []string{"job", "status"}),
		inProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: RunsInProgress,
			Help: "Job runs in progress in this process, by job.",
		}, []string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: LastSuccessSeconds,
			Help: "Unix time at which the last successful run of a job (in this process) started.",
		}, []string{"job"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    StepDurationSeconds,
			Help:    "Duration of one step of a job run, by job and step.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600},
		}, []string{"job", "step"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: APIRequestsTotal,
			Help: `Vendor API request attempts (retries included), by service and HTTP status code ("error" for a transport error).`,
		}, []string{"service", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    APIRequestSeconds,
			Help:    "Duration of one vendor API request attempt, by service.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"service"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: APIRateLimitedTotal,
			Help: "Vendor API responses with status 429 (rate limited), by service.",
		}, []string{"service"}),
		rowsUpserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RowsUpsertedTotal,
			Help: "Rows inserted or updated, by table.",
		}, []string{"table"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: PushRejectionsTotal,
			Help: "Records a destination refused or mapping could not make valid, by destination and reason code.",
		}, []string{"destination", "reason"}),
		windowLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: WindowLagSeconds,
			Help: "How far behind now a stream's pulled data is complete (now minus the start of its oldest unfinished window, or the end of its newest done window), by stream.",
		}, []string{"stream"}),
		gaveUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: WindowsGaveUp,
			Help: "Pull windows given up after repeated refusals (no run reads them again until crmsync backfill --retry-gave-up), by stream.",
		}, []string{"stream"}),
		dataGaps: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: WindowDataGaps,
			Help: "Pull windows done with fewer rows than Omnichat's totalElements after every re-read, by stream.",
		}, []string{"stream"}),
		missingRows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: WindowMissingRows,
			Help: "Rows the pull's data gaps miss (totalElements minus rows received), by stream.",
		}, []string{"stream"}),
	}
	r.reg.MustRegister(
		r.runs, r.inProgress, r.lastSuccess, r.stepDuration,
		r.apiRequests, r.apiDuration, r.rateLimited,
		r.rowsUpserted, r.rejections, r.windowLag,
		r.gaveUp, r.dataGaps, r.missingRows,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// Handler serves the registry in the Prometheus exposition format. A nil
// Registry serves 404.
func (r *Registry) Handler() http.Handler {
	if r == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Gatherer returns the underlying registry, for tests and custom exporters.
// It is nil for a nil Registry.
func (r *Registry) Gatherer() prometheus.Gatherer {
	if r == nil {
		return nil
	}
	return r.reg
}

// RunStarted counts a run of job as in progress, until RunFinished.
func (r *Registry) RunStarted(job string) {
	if r == nil {
		return
	}
	r.inProgress.WithLabelValues(job).Inc()
}

// RunFinished records that a run of job, started with RunStarted at
// startedAt, ended with status (ok, failed, interrupted, or skipped when it
// skipped a step another process was running). Only ok sets the job's
// last-success time.
func (r *Registry) RunFinished(job, status string, startedAt time.Time) {
	if r == nil {
		return
	}
	r.runs.WithLabelValues(job, status).Inc()
	r.inProgress.WithLabelValues(job).Dec()
	if status == "ok" {
		r.lastSuccess.WithLabelValues(job).Set(float64(startedAt.UnixNano()) / 1e9)
	}
}

// RunSkipped records a run of job that did not start (status skipped):
// another run of the job held its lock, or another run already took the
// schedule tick.
func (r *Registry) RunSkipped(job string) {
	if r == nil {
		return
	}
	r.runs.WithLabelValues(job, "skipped").Inc()
}

// ObserveStep records how long one step of a job run took.
func (r *Registry) ObserveStep(job, step string, d time.Duration) {
	if r == nil {
		return
	}
	r.stepDuration.WithLabelValues(job, step).Observe(d.Seconds())
}

// ObserveAPI records one vendor API request attempt: status is the HTTP
// status code, 0 for a transport error. A 429 also counts as rate limited.
func (r *Registry) ObserveAPI(service string, status int, d time.Duration) {
	if r == nil {
		return
	}
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	r.apiRequests.WithLabelValues(service, code).Inc()
	r.apiDuration.WithLabelValues(service).Observe(d.Seconds())
	if status == http.StatusTooManyRequests {
		r.rateLimited.WithLabelValues(service).Inc()
	}
}

// AddRowsUpserted adds n rows inserted or updated in table.
func (r *Registry) AddRowsUpserted(table string, n int) {
	if r == nil || n <= 0 {
		return
	}
	r.rowsUpserted.WithLabelValues(table).Add(float64(n))
}

// AddRejections adds n records refused for destination (oho, okeybot) with
// a reason code. Keep reason a short fixed code (too_long, invalid_phone,
// http_400...), never the value or the vendor's free text: every distinct
// reason is a new series.
func (r *Registry) AddRejections(destination, reason string, n int) {
	if r == nil || n <= 0 {
		return
	}
	r.rejections.WithLabelValues(destination, reason).Add(float64(n))
}

// SetWindowLag sets how far behind now the stream's pulled data is complete.
func (r *Registry) SetWindowLag(stream string, lag time.Duration) {
	if r == nil {
		return
	}
	r.windowLag.WithLabelValues(stream).Set(lag.Seconds())
}

// SetWindowHealth sets what needs an operator's eye in a stream's pull: the
// windows given up, the windows done with a data gap, and the rows missing.
func (r *Registry) SetWindowHealth(stream string, gaveUp, dataGaps, missingRows int64) {
	if r == nil {
		return
	}
	r.gaveUp.WithLabelValues(stream).Set(float64(gaveUp))
	r.dataGaps.WithLabelValues(stream).Set(float64(dataGaps))
	r.missingRows.WithLabelValues(stream).Set(float64(missingRows))
}
