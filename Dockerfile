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
ENTRYPOINT ["/usr/local/bin/crmsync"]
CMD ["schedule"]
