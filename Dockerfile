FROM python:3.11-slim
WORKDIR /app
# openssl makes the development certificates (`lapor broker certs`)
RUN apt-get update && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
RUN pip install --no-cache-dir '.[rocksdb]'
ENV LAPOR_STORE=rocksdb:// LAPOR_DATA_DIR=/data
CMD ["lapor", "--help"]
