# Local stand-ins for the official images deploy/Dockerfile and deploy/docker-compose.yml use by
# default (python:3.11-slim, node:20-slim, redis:7, nginx:1.27), for machines that cannot pull
# from a registry. deploy/compose-check builds each target FROM a Debian bookworm minbase that
# it made with debootstrap and `docker import` (BASE_IMAGE), and passes their tags to the
# compose file as PYTHON_IMAGE, NODE_IMAGE, REDIS_IMAGE and NGINX_IMAGE.
#
#   docker build --network host -f deploy/docker/bases.Dockerfile --target python \
#       --build-arg BASE_IMAGE=jobcast-local/debian:bookworm -t jobcast-local/python:3.11 deploy/docker
#
# Each provides what the official image provides to jobcast's files: `python3 -m venv` and
# useradd (python), `npm ci` (node), redis-server + redis-cli with /data (redis), nginx + sh.

ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS python
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
CMD ["python3"]

FROM ${BASE_IMAGE} AS node
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
CMD ["node"]

FROM ${BASE_IMAGE} AS redis
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
# As the official image: data in /data (a named volume takes this owner), not root.
USER redis
WORKDIR /data
CMD ["redis-server"]

FROM ${BASE_IMAGE} AS nginx
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/*
CMD ["nginx", "-g", "daemon off;"]
