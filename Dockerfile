# multimail in a container: a static binary (CGO_ENABLED=0) on a small base, run as a non-root
# user, data in the /data volume, health from /readyz. See docs/deployment.md and
# deploy/compose.yaml. cmd/multimail's deploy kit test parses this file and runs the build
# stage's go build command.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/multimail ./cmd/multimail

FROM alpine:3.22
RUN addgroup -S multimail && adduser -S -G multimail -H -h /data multimail \
    && mkdir -p /data /etc/multimail && chown multimail:multimail /data && chmod 0700 /data
COPY --from=build /out/multimail /usr/local/bin/multimail
USER multimail:multimail
VOLUME ["/data"]
# 25 smtp, 587 submission, 465 submissions, 143 imap, 993 imaps, 443 https, 80 acme_http,
# 8025 the plain HTTP listener (keep it on 127.0.0.1 in the config; the health check uses it).
EXPOSE 25 587 465 143 993 443 80
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD wget -q -O /dev/null http://127.0.0.1:8025/readyz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/multimail"]
CMD ["serve", "--config", "/etc/multimail/multimail.toml", "--log-format", "json"]
