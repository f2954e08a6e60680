#!/bin/sh
# Installs feedsvc's front and services on a Debian 12 host with Debian's own nginx package:
#   - the nginx site (deploy/nginx-site.conf) as /etc/nginx/sites-available/feedsvc, enabled, with
#     the listen address, server_name and upstream (gunicorn's bind) given here;
#   - the cache directory /var/cache/nginx/feedsvc, owned by nginx's user (www-data), which Debian
#     does not create;
#   - Debian's default site disabled (its link in sites-enabled removed; sites-available/default
#     stays): it is the default server of port 80 and would answer the feeds with its own 404s;
#   - the systemd units and /etc/feedsvc/feedsvc.env (from the sample, if there is none yet);
#   - the `feedsvc` system user and the app's instance/ directory, owned by it, and /run/feedsvc/metrics
#     (tmpfiles.d) for the metrics files of every process, the CLI's included;
#   - then `nginx -t`, and `systemctl daemon-reload` and `systemctl reload nginx`.
#
# --prefix DIR installs into DIR as if it were / (DIR/etc/nginx must hold a copy of Debian's
# /etc/nginx): the tests do so; the user is then not created and nothing is reloaded.
#
#   sudo deploy/install.sh [--listen 80] [--upstream 127.0.0.1:8000] [--server-name NAME]
#                          [--app-dir /opt/feedsvc] [--keep-default-site] [--no-reload] [--prefix DIR]
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=/
LISTEN=80
UPSTREAM=127.0.0.1:8000
SERVER_NAME=_
APP_DIR=/opt/feedsvc
KEEP_DEFAULT=0
RELOAD=1

usage() {
    sed -n '2,19s/^# \{0,1\}//p' "$0"
    exit "${1:-2}"
}
fail() {
    echo "install.sh: $*" >&2
    exit 1
}
need_value() {
    if [ $# -lt 2 ] || [ -z "$2" ]; then
        fail "$1 needs a value"
    fi
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) need_value "$@"; PREFIX=$2; shift 2 ;;
        --listen) need_value "$@"; LISTEN=$2; shift 2 ;;
        --upstream) need_value "$@"; UPSTREAM=$2; shift 2 ;;
        --server-name) need_value "$@"; SERVER_NAME=$2; shift 2 ;;
        --app-dir) need_value "$@"; APP_DIR=$2; shift 2 ;;
        --keep-default-site) KEEP_DEFAULT=1; shift ;;
        --no-reload) RELOAD=0; shift ;;
        -h | --help) usage 0 ;;
        *) echo "install.sh: unknown option $1 (--help lists them)" >&2; exit 2 ;;
    esac
done

# Values go into nginx's configuration and sed expressions: keep them to what they can be.
echo "$LISTEN" | grep -Eq '^(\[[0-9a-fA-F:.]+\]:|[0-9.]+:)?[0-9]{1,5}$' ||
    fail "--listen: a port or address:port, not '$LISTEN'"
echo "$UPSTREAM" | grep -Eq '^([A-Za-z0-9.-]+|\[[0-9a-fA-F:.]+\]):[0-9]{1,5}$|^unix:/[A-Za-z0-9_./-]+$' ||
    fail "--upstream: host:port or unix:/path, not '$UPSTREAM'"
echo "$SERVER_NAME" | grep -Eq '^[A-Za-z0-9_.* -]+$' || fail "--server-name: host names, not '$SERVER_NAME'"
echo "$APP_DIR" | grep -Eq '^/[A-Za-z0-9_./-]*$' || fail "--app-dir: an absolute path, not '$APP_DIR'"

ROOT=${PREFIX%/}  # "" for /
[ -z "$ROOT" ] || [ -d "$ROOT" ] || fail "--prefix $PREFIX: no such directory"
ETC="$ROOT/etc/nginx"
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || { [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx; } ||
    fail "nginx is not installed: apt-get install nginx (or make nginx)"
[ -f "$ETC/nginx.conf" ] || fail "$ETC/nginx.conf is missing: install Debian's nginx package first"
grep -Eq '^[[:space:]]*include[[:space:]]+[^;]*sites-enabled/' "$ETC/nginx.conf" ||
    fail "$ETC/nginx.conf does not include sites-enabled/: not Debian's layout"
mkdir -p "$ETC/sites-available" "$ETC/sites-enabled"

# nginx's workers write the cache: its user (Debian: www-data) owns the directory.
NGINX_USER=$(sed -n 's/^[[:space:]]*user[[:space:]]\{1,\}\([^[:space:];]*\).*/\1/p' "$ETC/nginx.conf" | head -n 1)
NGINX_USER=${NGINX_USER:-www-data}
id "$NGINX_USER" >/dev/null 2>&1 || fail "nginx's user $NGINX_USER does not exist"
CACHE="$ROOT/var/cache/nginx/feedsvc"
LOG="$ROOT/var/log/nginx/feedsvc.access.log"
mkdir -p "$CACHE" "$(dirname "$LOG")"
chmod 755 "$ROOT/var/cache/nginx"
if [ "$(id -u)" -eq 0 ]; then
    chown "$NGINX_USER:$(id -gn "$NGINX_USER")" "$CACHE"
elif [ "$(stat -c %U "$CACHE")" != "$NGINX_USER" ]; then
    fail "$CACHE must belong to $NGINX_USER: run as root"
fi
chmod 700 "$CACHE"

# The site, with this host's values (the file in deploy/ holds the defaults).
SITE="$ETC/sites-available/feedsvc"
sed -e "s|^\([[:space:]]*\)listen 80;|\1listen $LISTEN;|" \
    -e "s|^\([[:space:]]*\)server_name _;|\1server_name $SERVER_NAME;|" \
    -e "s|server 127\.0\.0\.1:8000 |server $UPSTREAM |" \
    -e "s|/var/cache/nginx/feedsvc|$CACHE|" \
    -e "s|/var/log/nginx/feedsvc\.access\.log|$LOG|" \
    "$HERE/nginx-site.conf" >"$SITE.tmp"
for expected in "listen $LISTEN;" "server_name $SERVER_NAME;" "server $UPSTREAM " "$CACHE" "$LOG"; do
    grep -qF "$expected" "$SITE.tmp" || fail "deploy/nginx-site.conf no longer has the line for '$expected'"
done
chmod 644 "$SITE.tmp"
mv "$SITE.tmp" "$SITE"
ln -sfn "$SITE" "$ETC/sites-enabled/feedsvc"
echo "installed $SITE (listen $LISTEN, upstream $UPSTREAM), enabled"

if [ "$KEEP_DEFAULT" -eq 0 ] && { [ -e "$ETC/sites-enabled/default" ] || [ -L "$ETC/sites-enabled/default" ]; }; then
    rm -f "$ETC/sites-enabled/default"
    echo "disabled Debian's default site (removed $ETC/sites-enabled/default; sites-available/default is kept)"
fi

# systemd units, the env file and the app's writable directory.
UNITS="$ROOT/etc/systemd/system"
mkdir -p "$UNITS"
for unit in feedsvc-web.service feedsvc-worker.service; do
    sed "s|/opt/feedsvc|$APP_DIR|g" "$HERE/$unit" >"$UNITS/$unit"
    chmod 644 "$UNITS/$unit"
done
echo "installed $UNITS/feedsvc-web.service, $UNITS/feedsvc-worker.service (code in $APP_DIR)"
if [ -z "$ROOT" ] && ! id feedsvc >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin feedsvc
    echo "created the system user feedsvc"
fi
mkdir -p "$ROOT/etc/feedsvc"
ENV_FILE="$ROOT/etc/feedsvc/feedsvc.env"
if [ ! -e "$ENV_FILE" ]; then
    cp "$HERE/feedsvc.env.sample" "$ENV_FILE"
    chmod 640 "$ENV_FILE"
    if getent group feedsvc >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
        chgrp feedsvc "$ENV_FILE"
    fi
    echo "created $ENV_FILE from the sample: fill it in"
fi
# The metrics directory of the env file (PROMETHEUS_MULTIPROC_DIR) at every boot, before the units
# start: a `feedsvc` command run with the env file (init-db, first of all) needs it to exist.
mkdir -p "$ROOT/etc/tmpfiles.d"
cat >"$ROOT/etc/tmpfiles.d/feedsvc.conf" <<'EOF_TMPFILES'
# feedsvc (deploy/install.sh): the metrics files shared by the web workers, the worker and the CLI.
d /run/feedsvc 0755 feedsvc feedsvc -
d /run/feedsvc/metrics 0750 feedsvc feedsvc -
EOF_TMPFILES
chmod 644 "$ROOT/etc/tmpfiles.d/feedsvc.conf"
if [ -z "$ROOT" ]; then
    # ProtectSystem=strict: the app may write only here (the SQLite default and instance/config.py).
    install -d -o feedsvc -g feedsvc -m 750 "$APP_DIR/instance"
    if command -v systemd-tmpfiles >/dev/null 2>&1; then
        systemd-tmpfiles --create /etc/tmpfiles.d/feedsvc.conf
    else
        install -d -o feedsvc -g feedsvc -m 750 /run/feedsvc/metrics
    fi
fi

# The configuration as nginx will read it. With a prefix, its copy of nginx.conf names its own paths.
if [ -z "$ROOT" ]; then
    "$NGINX" -t -q -c "$ETC/nginx.conf"
else
    mkdir -p "$ROOT/var/log/nginx"
    "$NGINX" -t -q -c "$ETC/nginx.conf" -e "$ROOT/var/log/nginx/error.log"
fi
echo "nginx -t: the configuration is valid"

if [ -z "$ROOT" ] && [ "$RELOAD" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    if systemctl is-active --quiet nginx; then
        systemctl reload nginx
        echo "reloaded nginx"
    else
        echo "nginx is not running: systemctl enable --now nginx"
    fi
fi
