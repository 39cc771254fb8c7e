# Two stages: build the static binary exactly as `make build` does, then ship
# it alone on a minimal base, as a non-root user. CI cannot run Docker here;
# `make build` is the same build and is exercised by CI.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build BIN=/out/crmsync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/crmsync /usr/local/bin/crmsync
COPY jobs.yaml /etc/crmsync/jobs.yaml
ENV CRMSYNC_CONFIG=/etc/crmsync/jobs.yaml
USER nonroot:nonroot
# Stopping: crmsync stops gracefully on SIGTERM (or SIGINT): running steps
# finish the page or contact in hand, runs are recorded interrupted, and the
# whole stop takes at most schedule.grace_period + 9 s (24 s with the default
# 15 s; the scheduler logs it as stop_timeout at start). Give it that long
# before SIGKILL:
#   docker stop -t 30 …           (docker's default is only 10 s)
#   compose: stop_grace_period: 30s
#   Kubernetes: terminationGracePeriodSeconds: 30 (the default) is enough
# or lower schedule.grace_period to fit a shorter timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/crmsync"]
CMD ["schedule"]
