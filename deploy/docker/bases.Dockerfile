# Local stand-ins for the official images deploy/Dockerfile and deploy/docker-compose.yml use by
# default (python:3.11-slim, node:20-slim, redis:7, nginx:1.27), for machines that cannot pull
# from a registry. deploy/compose-check builds each target FROM a Debian bookworm minbase that
# it made with debootstrap and `docker import` (BASE_IMAGE), and passes their tags to the
# compose file as PYTHON_IMAGE, NODE_IMAGE, REDIS_IMAGE and NGINX_IMAGE.
#
#   DOCKER_BUILDKIT=1 docker build --network host -f deploy/docker/bases.Dockerfile \
#       --target python --build-arg BASE_IMAGE=jobcast-local/debian:bookworm \
#       -t jobcast-local/python:3.11-bookworm deploy/docker
#
# The context is deploy/docker (the node target reads build-ca/); BuildKit is needed (a bind
# mount), which Debian's docker.io 20.10 client has built in.
# Each provides what the official image provides to jobcast's files: `python3 -m venv` and
# useradd (python), `npm ci` (node), redis-server + redis-cli with /data (redis), nginx + sh.

ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS python
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
CMD ["python3"]

FROM ${BASE_IMAGE} AS node
# Debian's nodejs, and npm from the npm registry: Debian's own npm package is ~300 packages
# that take a minute to unpack, this is one tarball, pinned and checked against its integrity.
# Behind a TLS-intercepting proxy, put its CA in build-ca/*.crt (BuildKit bind mount: the
# certificate never lands in a layer).
ARG NPM_VERSION=10.9.2
ARG NPM_INTEGRITY=sha512-iriPEPIkoMYUy3F6f3wwSZAU93E0Eg6cHwIR6jzzOXWSy+SD/rOODEs74cVONHKSx2obXtuUoyidVEhISrisgQ==
RUN --mount=type=bind,source=build-ca,target=/tmp/build-ca \
    set -e; \
    apt-get update; \
    apt-get install -y --no-install-recommends nodejs ca-certificates; \
    rm -rf /var/lib/apt/lists/*; \
    if ls /tmp/build-ca/*.crt >/dev/null 2>&1; then \
        cat /tmp/build-ca/*.crt > /tmp/ca.pem; export NODE_EXTRA_CA_CERTS=/tmp/ca.pem; \
    fi; \
    node -e ' \
      const [url, integrity] = process.argv.slice(1); \
      require("https").get(url, (res) => { \
        if (res.statusCode !== 200) { console.error(url, res.statusCode); process.exit(1); } \
        const chunks = []; \
        res.on("data", (c) => chunks.push(c)).on("end", () => { \
          const body = Buffer.concat(chunks); \
          const [algo, want] = integrity.split("-"); \
          const got = require("crypto").createHash(algo).update(body).digest("base64"); \
          if (got !== want) { console.error("integrity mismatch", got); process.exit(1); } \
          require("fs").writeFileSync("/tmp/npm.tgz", body); \
        }); \
      }).on("error", (e) => { console.error(e.message); process.exit(1); });' \
      "https://registry.npmjs.org/npm/-/npm-${NPM_VERSION}.tgz" "${NPM_INTEGRITY}"; \
    mkdir -p /usr/lib/node_modules/npm; \
    tar -xzf /tmp/npm.tgz -C /usr/lib/node_modules/npm --strip-components=1 --no-same-owner; \
    ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/bin/npm; \
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/bin/npx; \
    rm -f /tmp/npm.tgz /tmp/ca.pem; \
    npm --version
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
