#!/bin/sh
# The nginx service's command in deploy/docker-compose.yml: fill in deploy/nginx.docker.conf
# and run nginx in the foreground. POSIX sh + sed, so it runs unchanged in the official
# nginx images (Debian or Alpine) and in compose-check's local Debian one.
#
#   NGINX_LISTEN            the listen address, e.g. 127.0.0.1:8080
#   JOBCAST_WEB_UPSTREAMS   the web instances, space-separated host:port, e.g.
#                           "127.0.0.1:8001 127.0.0.1:8002"
#   NGINX_TEMPLATE          the config to fill in (default /etc/jobcast/nginx.conf.in)
#   NGINX_PREFIX            nginx's -p prefix: the config, pid and temp dirs (default
#                           /tmp/jobcast-nginx/, made here; writable by the user nginx runs as)
set -eu
template=${NGINX_TEMPLATE:-/etc/jobcast/nginx.conf.in}
prefix=${NGINX_PREFIX:-/tmp/jobcast-nginx/}
: "${NGINX_LISTEN:?NGINX_LISTEN is not set (e.g. 127.0.0.1:8080)}"
: "${JOBCAST_WEB_UPSTREAMS:?JOBCAST_WEB_UPSTREAMS is not set (e.g. 127.0.0.1:8001 127.0.0.1:8002)}"

servers=
for upstream in $JOBCAST_WEB_UPSTREAMS; do
    case $upstream in
        *[!A-Za-z0-9.:_-]*|'') echo "nginx-start: bad upstream '$upstream'" >&2; exit 2 ;;
    esac
    servers="${servers}server ${upstream} max_fails=1 fail_timeout=5s; "
done
case $NGINX_LISTEN in
    *[!A-Za-z0-9.:\[\]_-]*) echo "nginx-start: bad NGINX_LISTEN '$NGINX_LISTEN'" >&2; exit 2 ;;
esac

mkdir -p "$prefix"
sed -e "s|@LISTEN@|${NGINX_LISTEN}|" -e "s|@SERVERS@|${servers}|" "$template" > "${prefix}nginx.conf"
# -e: the compiled-in error log (/var/log/nginx) may not be writable by this user.
nginx -e stderr -p "$prefix" -c "${prefix}nginx.conf" -t -q
exec nginx -e stderr -p "$prefix" -c "${prefix}nginx.conf" -g 'daemon off;'
