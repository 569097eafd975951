#!/bin/sh
# The proxy's start command: fill in deploy/nginx/proxy.conf.template, then run nginx in the foreground.
# RESOLVER: the DNS server of the container network (Docker's 127.0.0.11 unless told; k8s sets its own).
# REAL_IP_FROM: addresses or CIDRs (space- or comma-separated) of the proxies in front of this one whose
# X-Forwarded-For names the client (k8s: the Ingress controller's pods); empty (compose): nothing is trusted.
set -euf
: "${PROXY_SECRET:?PROXY_SECRET is required}"
case $PROXY_SECRET in *[!A-Za-z0-9_-]*) echo "PROXY_SECRET: letters, digits, - and _ only" >&2; exit 1 ;; esac
resolver=${RESOLVER:-$(awk '$1 == "nameserver" {print $2; exit}' /etc/resolv.conf)}
# where the filled-in files go, and the template (the defaults are the containers'; tests run it elsewhere)
run=${PROXY_RUN_DIR:-/tmp}
template=${PROXY_TEMPLATE:-/etc/nginx/proxy.conf.template}
real_ip=$run/nginx-real-ip.conf
: > "$real_ip"
for from in $(printf '%s' "${REAL_IP_FROM:-}" | tr ',' ' '); do
    case $from in *[!0-9A-Fa-f.:/]*) echo "REAL_IP_FROM: $from is not an address or CIDR" >&2; exit 1 ;; esac
    echo "set_real_ip_from $from;" >> "$real_ip"
done
if [ -s "$real_ip" ]; then
    printf 'real_ip_header X-Forwarded-For;\nreal_ip_recursive on;\n' >> "$real_ip"
fi
sed -e "s/@PROXY_SECRET@/$PROXY_SECRET/" \
    -e "s/@RESOLVER@/${resolver:-127.0.0.11}/" \
    -e "s/@GATEWAY_UPSTREAM@/${GATEWAY_UPSTREAM:-gateway:8000}/" \
    -e "s/@FRONTEND_UPSTREAM@/${FRONTEND_UPSTREAM:-frontend:7860}/" \
    -e "s|@REAL_IP_CONF@|$real_ip|" \
    "$template" > "$run/nginx.conf"
exec nginx -c "$run/nginx.conf" -g "daemon off;"
