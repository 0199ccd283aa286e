#!/bin/sh
# The nginx service's command in deploy/docker-compose.yml: fill in deploy/nginx.conf for
# host networking and run nginx in the foreground. It fills in the same two places that
# deploy/run-local does: the `server` lines between the BEGIN/END upstream markers, and the
# `listen 80;` line. POSIX sh + awk, so it runs unchanged in the official nginx images
# (Debian or Alpine) and in compose-check's local Debian one.
#
#   NGINX_LISTEN            the listen address, e.g. 127.0.0.1:8080
#   JOBCAST_WEB_UPSTREAMS   the web instances, space-separated host:port, e.g.
#                           "127.0.0.1:8001 127.0.0.1:8002"
#   NGINX_TEMPLATE          the config to fill in (default /etc/jobcast/nginx.conf.in)
#   NGINX_PREFIX            nginx's -p prefix: the config, pid and temp dirs (default
#                           /tmp/jobcast-nginx/, made here, so any user can run nginx)
set -eu
template=${NGINX_TEMPLATE:-/etc/jobcast/nginx.conf.in}
prefix=${NGINX_PREFIX:-/tmp/jobcast-nginx/}
: "${NGINX_LISTEN:?NGINX_LISTEN is not set (e.g. 127.0.0.1:8080)}"
: "${JOBCAST_WEB_UPSTREAMS:?JOBCAST_WEB_UPSTREAMS is not set (e.g. 127.0.0.1:8001 127.0.0.1:8002)}"

bad() { echo "nginx-start: $*" >&2; exit 2; }
case $NGINX_LISTEN in
    *[!A-Za-z0-9.:_\[\]-]*) bad "bad NGINX_LISTEN '$NGINX_LISTEN'" ;;
esac
servers=
for upstream in $JOBCAST_WEB_UPSTREAMS; do
    case $upstream in
        *[!A-Za-z0-9.:_\[\]-]*) bad "bad upstream '$upstream'" ;;
    esac
    # awk turns each \n into a new line.
    servers="${servers}        server ${upstream} max_fails=1 fail_timeout=5s;\\n"
done

mkdir -p "$prefix"
conf="${prefix}nginx.conf"
awk -v servers="$servers" -v listen="$NGINX_LISTEN" '
    /# BEGIN upstream servers/ { print; printf "%s", servers; skip = 1; next }
    /# END upstream servers/   { skip = 0 }
    skip                       { next }
    /^[ \t]*listen 80;/        { sub(/listen 80;/, "listen " listen ";") }
    { print }
' "$template" > "$conf"
grep -qF "listen ${NGINX_LISTEN};" "$conf" && grep -qF "server ${upstream} " "$conf" \
    || bad "$template has no '# BEGIN upstream servers' ... '# END upstream servers' block or no 'listen 80;' line"

# -e: the compiled-in error log (/var/log/nginx) may not be writable by this user.
nginx -e stderr -p "$prefix" -c "$conf" -t -q
exec nginx -e stderr -p "$prefix" -c "$conf" -g 'daemon off;'
