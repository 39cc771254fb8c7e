package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/config"
	"crmsync/sandbox"
)

func TestSandboxCommand_servesUntilStopped(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfgPath := filepath.Join(t.TempDir(), "jobs.sandbox.yaml")
	pr, pw := io.Pipe()
	var errb strings.Builder
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"sandbox", "--ports", "0,0,0,0", "--people", "40", "--write-config", cfgPath},
			func(string) string { return "" }, pw, &errb)
		_ = pw.Close()
	}()

	env := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		if strings.HasPrefix(line, "Press Ctrl-C") {
			break
		}
	}
	require.Contains(t, env, "OMNICHAT_BASE_URL")
	require.Equal(t, sandbox.OmnichatToken, env["OMNICHAT_TOKEN"])
	require.Equal(t, "1656000001", env["LINE_CHANNEL_ID_MAIN"])

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env["OMNICHAT_BASE_URL"]+"/v1/channels", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+env["OMNICHAT_TOKEN"])
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Contains(t, []int{http.StatusOK, http.StatusTooManyRequests}, resp.StatusCode, "served (a burst of 429s is injected)")

	written, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	_, err = config.Parse(cfgPath, written, func(k string) string { return env[k] })
	require.NoError(t, err, "the written configuration loads with the printed environment")

	cancel()
	rest, err := io.ReadAll(pr)
	require.NoError(t, err)
	require.Equal(t, 0, <-code, "stderr: %s", errb.String())
	require.Contains(t, string(rest), "sandbox stopped; requests served:")
	require.Regexp(t, `omnichat\s+1 requests`, string(rest))
}

func TestSandboxCommand_usage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		give       []string
		wantStderr string
	}{
		{"ThreePorts", []string{"sandbox", "--ports", "1,2,3"}, "want four ports"},
		{"NotAPort", []string{"sandbox", "--ports", "1,2,3,x"}, `"x" is not a port`},
		{"NoPeople", []string{"sandbox", "--people", "0"}, "--people and --okeybot-rate must be positive"},
		{"Argument", []string{"sandbox", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tt.give...)
			require.Equal(t, exitBadArgs, r.code)
			require.Contains(t, r.stderr, tt.wantStderr)
		})
	}
}

func TestParsePorts(t *testing.T) {
	t.Parallel()
	got, err := parsePorts(" 18081, 18082,18083 ,0")
	require.NoError(t, err)
	require.Equal(t, sandbox.Ports{Omnichat: 18081, Oho: 18082, Line: 18083}, got)
	_, err = parsePorts("1,2,3,70000")
	require.ErrorContains(t, err, `"70000" is not a port`)
}
