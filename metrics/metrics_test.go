package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"crmsync/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func scrape(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	srv.Client().CloseIdleConnections()
	return string(body)
}

func TestRegistry_Handler_exposesNamedSeries(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	started := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	r.RunStarted("omnichat_pull")
	r.RunFinished("omnichat_pull", "ok", started)
	r.RunSkipped("omnichat_pull")
	r.ObserveStep("omnichat_pull", "pull_contacts", 1500*time.Millisecond)
	r.ObserveAPI("omnichat", 200, 80*time.Millisecond)
	r.ObserveAPI("omnichat", 429, 10*time.Millisecond)
	r.ObserveAPI("oho", 0, time.Second)
	r.AddRowsUpserted("omnichat_contacts", 250)
	r.AddRejections("okeybot", "too_long", 3)
	r.SetWindowLag("messages", 90*time.Minute)
	r.SetWindowHealth("contacts", 3, 1, 17)

	body := scrape(t, r)
	for _, want := range []string{
		`crmsync_runs_total{job="omnichat_pull",status="ok"} 1`,
		`crmsync_runs_total{job="omnichat_pull",status="skipped"} 1`,
		`crmsync_runs_in_progress{job="omnichat_pull"} 0`,
		`crmsync_job_last_success_timestamp_seconds{job="omnichat_pull"} 1.7723592e+09`,
		`crmsync_step_duration_seconds_bucket{job="omnichat_pull",step="pull_contacts",le="5"} 1`,
		`crmsync_step_duration_seconds_sum{job="omnichat_pull",step="pull_contacts"} 1.5`,
		`crmsync_api_requests_total{code="200",service="omnichat"} 1`,
		`crmsync_api_requests_total{code="429",service="omnichat"} 1`,
		`crmsync_api_requests_total{code="error",service="oho"} 1`,
		`crmsync_api_request_duration_seconds_count{service="omnichat"} 2`,
		`crmsync_api_rate_limited_total{service="omnichat"} 1`,
		`crmsync_rows_upserted_total{table="omnichat_contacts"} 250`,
		`crmsync_push_rejections_total{destination="okeybot",reason="too_long"} 3`,
		`crmsync_window_lag_seconds{stream="messages"} 5400`,
		`crmsync_windows_gave_up{stream="contacts"} 3`,
		`crmsync_window_data_gaps{stream="contacts"} 1`,
		`crmsync_window_missing_rows{stream="contacts"} 17`,
	} {
		require.True(t, strings.Contains(body, want+"\n"), "missing series line %s", want)
	}
	require.True(t, strings.Contains(body, "\ngo_goroutines "), "the Go runtime collector is registered")
	require.NotContains(t, body, `crmsync_api_rate_limited_total{service="oho"}`, "only 429 counts as rate limited")
}

func TestRegistry_nilIsNoOp(t *testing.T) {
	t.Parallel()
	var r *metrics.Registry
	require.NotPanics(t, func() {
		r.RunStarted("j")
		r.RunFinished("j", "ok", time.Now())
		r.RunSkipped("j")
		r.SetWindowHealth("s", 1, 1, 1)
		r.ObserveStep("j", "s", time.Second)
		r.ObserveAPI("omnichat", 500, time.Second)
		r.AddRowsUpserted("t", 1)
		r.AddRejections("oho", "x", 1)
		r.SetWindowLag("contacts", time.Minute)
	})
	require.Nil(t, r.Gatherer())
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusNotFound, rec.Code)
}

func TestRegistry_AddRowsUpserted_ignoresNonPositive(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	r.AddRowsUpserted("contacts", 0)
	r.AddRowsUpserted("contacts", -4)
	r.AddRejections("oho", "x", 0)
	n, err := testutil.GatherAndCount(r.Gatherer(), metrics.RowsUpsertedTotal, metrics.PushRejectionsTotal)
	require.NoError(t, err)
	require.Equal(t, 0, n)
}

// registriesAreIndependent: two registries never share series (no global default).
func TestNew_registriesAreIndependent(t *testing.T) {
	t.Parallel()
	a, b := metrics.New(), metrics.New()
	a.AddRowsUpserted("contacts", 5)
	require.Contains(t, scrape(t, a), `crmsync_rows_upserted_total{table="contacts"} 5`)
	require.False(t, strings.Contains(scrape(t, b), `crmsync_rows_upserted_total{`), "b must not see a's series")
}
