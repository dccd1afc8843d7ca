# FStore: the REST API + dashboard, the Feature Processor and the CLI in one image.
#   docker build -t fstore .
#   docker compose up -d            (docker-compose.yml: the whole stack; docs/deployment.md)
# Stages: the dashboard is built with Node, the wheel with Python (it packages the dashboard),
# and the runtime is a slim Python with only the wheel installed, run as a non-root user.

# -- 1. the web dashboard (web/ -> src/fstore/web_dist) ------------------------------------------
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# -- 2. the wheel -----------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
RUN pip install --no-cache-dir build
COPY pyproject.toml README.md ./
COPY LICENSE* ./
COPY src/ src/
COPY --from=web /src/src/fstore/web_dist/ src/fstore/web_dist/
RUN python -m build --wheel --outdir /dist

# -- 3. the runtime ---------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
ARG EXTRAS=api,production
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FSTORE_HOME=/data
COPY --from=wheel /dist/ /tmp/dist/
RUN set -eux; \
    wheel="$(ls /tmp/dist/fstore-*.whl)"; \
    pip install "fstore[${EXTRAS}] @ file://${wheel}"; \
    rm -rf /tmp/dist; \
    groupadd --system --gid 10001 fstore; \
    useradd --system --uid 10001 --gid fstore --home-dir /data --create-home fstore
USER fstore
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# liveness: the process answers (readiness, every store reachable: /health/ready)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
ENTRYPOINT ["fstore"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
