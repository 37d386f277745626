# One image for every CloudMart service and the cost analyzer:
#   cloudmart serve users|products|orders|payments|notifications   (port 8080)
#   cloudmart cost serve --prometheus URL --port 9090
# Build: make image (kind: make kind-load).
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/cloudmart
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/cloudmart/bin/pip install --upgrade pip \
 && /opt/cloudmart/bin/pip install .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="cloudmart" \
      org.opencontainers.image.description="CloudMart services and cost analyzer"
ENV PATH=/opt/cloudmart/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CLOUDMART_MODE=distributed \
    CLOUDMART_HOST=0.0.0.0 \
    CLOUDMART_PORT=8080
RUN groupadd --system --gid 10001 cloudmart \
 && useradd --system --uid 10001 --gid cloudmart --home-dir /app --shell /usr/sbin/nologin cloudmart
COPY --from=build /opt/cloudmart /opt/cloudmart
WORKDIR /app
COPY --chown=root:root policies ./policies
COPY --chown=root:root migrations ./migrations
USER 10001:10001
EXPOSE 8080 9090
HEALTHCHECK NONE
ENTRYPOINT ["cloudmart"]
CMD ["--help"]
