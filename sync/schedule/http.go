package schedule

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/metrics"
	"crmsync/store"
)

// NewHTTPHandler serves the operations endpoints:
//
//   - /healthz: 200 while the process runs;
//   - /readyz: 200 when the database answers and ready returns nil, else 503
//     with the reason (ready may be nil);
//   - /metrics: the Prometheus series of m.
func NewHTTPHandler(st *store.Store, m *metrics.Registry, ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "not ready:", err)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: database unreachable")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", m.Handler())
	return mux
}

// HTTPServer is a running operations listener (see NewHTTPHandler).
type HTTPServer struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// ListenHTTP listens on addr (host:port; port 0 picks one) and serves h in
// the background until Shutdown.
func ListenHTTP(addr string, h http.Handler, log logrus.FieldLogger) (*HTTPServer, error) {
	if log == nil {
		log = discardLogger()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for /metrics on %s: %w", addr, err)
	}
	s := &HTTPServer{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("operations listener stopped")
		}
	}()
	log.WithField("addr", s.addr).Info("serving /healthz, /readyz and /metrics")
	return s, nil
}

// Addr returns the address the server listens on.
func (s *HTTPServer) Addr() string { return s.addr }

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("stop operations listener: %w", err)
	}
	return nil
}
