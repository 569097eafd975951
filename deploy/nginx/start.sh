#!/bin/sh
# The proxy's start command: fill in deploy/nginx/proxy.conf.template, then run nginx in the foreground.
# RESOLVER: the DNS server of the container network (Docker's 127.0.0.11 unless told; k8s sets its own).
set -eu
: "${PROXY_SECRET:?PROXY_SECRET is required}"
case $PROXY_SECRET in *[!A-Za-z0-9_-]*) echo "PROXY_SECRET: letters, digits, - and _ only" >&2; exit 1 ;; esac
resolver=${RESOLVER:-$(awk '$1 == "nameserver" {print $2; exit}' /etc/resolv.conf)}
sed -e "s/@PROXY_SECRET@/$PROXY_SECRET/" \
    -e "s/@RESOLVER@/${resolver:-127.0.0.11}/" \
    -e "s/@GATEWAY_UPSTREAM@/${GATEWAY_UPSTREAM:-gateway:8000}/" \
    -e "s/@FRONTEND_UPSTREAM@/${FRONTEND_UPSTREAM:-frontend:7860}/" \
    /etc/nginx/proxy.conf.template > /tmp/nginx.conf
exec nginx -c /tmp/nginx.conf -g "daemon off;"
