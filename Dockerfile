# fjsense services (bridge, worker, sink, simulator, migrations): one image, one command each.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FJSENSE_STACK__HOME=/var/lib/fjsense
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY fjsense fjsense
COPY ingest ingest
COPY streams streams
COPY sinks sinks
COPY dashboards dashboards
COPY simulators simulators
COPY kinds kinds
COPY app app
RUN pip install --no-cache-dir . \
 && useradd --system --home-dir /var/lib/fjsense --create-home fjsense
USER fjsense
ENTRYPOINT ["fjsense"]
CMD ["--help"]
