# syntax=docker/dockerfile:1
# Build stage: build a wheel of the project and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: only the wheels, a non-root user and a data volume.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/govdigest.db
RUN useradd --create-home --uid 10001 govdigest \
    && mkdir -p /data && chown govdigest:govdigest /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER govdigest
WORKDIR /home/govdigest
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["govdigest", "health"]
CMD ["govdigest", "run"]
