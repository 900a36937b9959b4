FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
RUN pip install --no-cache-dir '.[rocksdb]'
ENV LAPOR_STORE=rocksdb:// LAPOR_DATA_DIR=/data
CMD ["lapor", "--help"]
