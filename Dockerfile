# The gateway and the worker share one image; docker-compose.yml runs each with its command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    ALERTGATE_CONFIG_DIR=/etc/alertgate ALERTGATE_DATA_DIR=/var/lib/alertgate \
    ALERTGATE_HOST=0.0.0.0 ALERTGATE_PORT=8080

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/alertgate alertgate \
    && mkdir -p /var/lib/alertgate && chown alertgate /var/lib/alertgate
COPY config /etc/alertgate

USER alertgate
EXPOSE 8080
CMD ["alertgate", "serve", "--workers", "2"]
