#!/bin/sh
# Install the cluster side of qaas (qaas-worker) in a virtual environment of its own, from wheels only.
# Explained line by line in docs/deploy.md of qaas. Run as root on every node that runs the HEAppE tasks:
#
#   sudo sh install-worker.sh
#
# Settings (environment variables; defaults in brackets):
#   QAAS_PYTHON   the interpreter the environment is made from, 3.11 or newer [python3.11]
#   QAAS_PREFIX   the environment; the command templates run $QAAS_PREFIX/bin/python [/opt/qaas]
#   QAAS_VERSION  the qaas-core release to install [the newest]
#   QAAS_WHEELS   a directory of wheels to install from, without the package index [none: the index]
#   QAAS_CONFIG   the site's worker configuration, written only when missing [/etc/qaas/worker.toml]
#   QAAS_STATE    the worker's state directory [/var/lib/qaas-worker]
#   QAAS_USER     the existing account that runs the worker service and alone reads the IQM token [qaas]
set -eu

python=${QAAS_PYTHON:-python3.11}
prefix=${QAAS_PREFIX:-/opt/qaas}
version=${QAAS_VERSION:-}
config=${QAAS_CONFIG:-/etc/qaas/worker.toml}
state=${QAAS_STATE:-/var/lib/qaas-worker}
owner=${QAAS_USER:-qaas}
confdir=$(dirname "$config")
token=$confdir/iqm-token

id "$owner" >/dev/null 2>&1 || { echo "install-worker.sh: create the account $owner first" >&2; exit 1; }
group=$(id -gn "$owner")
umask 022

"$python" -m venv "$prefix"
set -- --only-binary=:all: --no-cache-dir --disable-pip-version-check --upgrade
if [ -n "${QAAS_WHEELS:-}" ]; then set -- "$@" --no-index --find-links "$QAAS_WHEELS"; fi
"$prefix/bin/python" -I -m pip install "$@" "qaas-core[worker]${version:+==$version}"

install -d -m 0755 "$confdir"
if [ ! -e "$config" ]; then
    skeleton=$(mktemp "$confdir/.worker.toml.XXXXXX")
    cat >"$skeleton" <<EOF
[iqm]
url = "https://iqm.example.org"   # the IQM server: replace
# quantum_computer = "garnet"     # when the server hosts several
token_file = "$token"
submit_timeout = 60

[state]
dir = "$state"
heartbeat_seconds = 2

[service]
socket = "/run/qaas/worker.sock"
required = true

[limits]
max_request_bytes = 67108864
max_upload_bytes = 67108864
EOF
    chmod 0644 "$skeleton"
    mv "$skeleton" "$config"
fi
[ -e "$token" ] || install -o "$owner" -g "$group" -m 0600 /dev/null "$token"
install -d -o "$owner" -g "$group" -m 0700 "$state"

"$prefix/bin/python" -I -m qaas_core.worker --config "$config" templates >"$confdir/command-templates.json"
"$prefix/bin/python" -I -m qaas_core.worker --config "$config" info >"$confdir/qaas.json"
chmod 0644 "$confdir/command-templates.json" "$confdir/qaas.json"

cat <<EOF
qaas-worker installed in $prefix.
Next: put the IQM token into $token, set url in $config, install qaas-worker.service, register the templates in
$confdir/command-templates.json with HEAppE, serve $confdir/qaas.json at {HEAPPE_URL}/qaas, then check everything:
  sudo -u $owner $prefix/bin/python -I -m qaas_core.worker --config $config doctor
EOF
