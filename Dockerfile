# The PyDojo API node. For machines that can pull images; see README.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin pydojo

# The executor (`pydojo executor`): Python and bubblewrap for the native
# sandbox. It runs as root because the sandbox makes a cgroup per run; every
# run itself is dropped to uid 65534. Build it with `--target executor`.
FROM debian:bookworm-slim AS executor
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini python3 bubblewrap \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/pydojo /usr/local/bin/pydojo
ENTRYPOINT ["/usr/bin/tini", "--", "pydojo"]
CMD ["executor"]

# The API node (the default target).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/pydojo --create-home pydojo
COPY --from=build /src/target/release/pydojo /usr/local/bin/pydojo
USER pydojo
ENV PYDOJO_DATA_DIR=/var/lib/pydojo PYDOJO_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "pydojo"]
CMD ["serve"]
