# livecommerce: one process serving the HTTP API, the room gateway and the pages.
# Point it at Redis 7+ or Valkey with LIVECOMMERCE_REDIS_URL; without it, it runs the
# embedded Valkey with its data under /data (mount a volume there).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LIVECOMMERCE_HOST=0.0.0.0 LIVECOMMERCE_PORT=8000 LIVECOMMERCE_WS_PORT=8001 \
    LIVECOMMERCE_DATA_DIR=/data LIVECOMMERCE_STATIC_DIR=/app/static

WORKDIR /app
COPY pyproject.toml README.md ./
COPY livecommerce ./livecommerce
COPY static ./static
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app livecommerce \
    && mkdir -p /data && chown livecommerce /data

USER livecommerce
VOLUME ["/data"]
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
STOPSIGNAL SIGTERM
CMD ["livecommerce", "serve"]
