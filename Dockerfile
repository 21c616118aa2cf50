# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t mpesa-bot .
# Run:   docker run --env-file .env -p 8080:8080 -v mpesa-bot-data:/data mpesa-bot

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# A static, stripped binary with reproducible paths and the version stamped in.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/mpesa-bot ./cmd/mpesa-bot \
 && mkdir -p /out/data

# distroless/static has CA certificates and a nonroot user (65532), no shell.
# EAT is a fixed zone in the code, so no tzdata is needed.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mpesa-bot /usr/local/bin/mpesa-bot
COPY --from=build --chown=65532:65532 /out/data /data
ENV DB_PATH=/data/mpesa-bot.db \
    HTTP_ADDR=:8080
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/mpesa-bot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/mpesa-bot"]
CMD ["run"]
