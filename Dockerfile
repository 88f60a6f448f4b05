# One image for every service of the platform: simulator, edge gateway, collector (and the demo).
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shopfloor ./shopfloor
COPY simulator ./simulator
COPY edge ./edge
COPY collector ./collector
COPY dashboards ./dashboards
COPY assess ./assess
COPY console ./console
COPY classroom ./classroom
COPY sfsim ./sfsim
RUN pip install . && useradd --system --uid 10001 --no-create-home sfsim \
    && mkdir -p /var/lib/sfsim && chown sfsim /var/lib/sfsim
USER sfsim
# spools and certificates live here (volumes in docker-compose.yml); a site's plant file and configurations
# are mounted from the host (docker-compose.yml: SITE_DIR), not built in
VOLUME /var/lib/sfsim
ENTRYPOINT ["sfsim"]
CMD ["--help"]
