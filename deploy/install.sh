#!/usr/bin/env bash
# Production install of Điểm Cầu on Debian 12/13 or Ubuntu 24.04 (docs/deploy.md,
# "Production install"). Called by the Makefile:
#
#   make install [DOMAIN=meet.example.org]   →  deploy/install.sh install
#   make uninstall                           →  deploy/install.sh uninstall
#
# Every step prints one line: "+ …" when it changed something, "= …" when there was nothing
# to do, "! …" for what the admin has to look at (and an indented line before a slow part).
# A second run changes nothing and prints no "+" line. Environment: DOMAIN (public name, optional), PYTHON (a Python 3.12+ to
# use when the system's python3 is older, as on Debian 12; the Makefile passes the one it
# found).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=/opt/diemcau            # the app (root-owned, read-only to the service)
VENV=$PREFIX/venv
OWN_PYTHON=$PREFIX/python      # a copy of PYTHON, when the service user cannot run it
DATA=/var/lib/diemcau          # the data folder: secrets, generated configs, CA, logs
ETC=/etc/diemcau
ENV_FILE=$ETC/diemcau.env
UNIT=/etc/systemd/system/diemcau.service
ADMIN_COMMAND=/usr/local/sbin/diemcau
SERVICE_USER=diemcau
DB_NAME=diemcau
PG_SOCKET=/var/run/postgresql
REDIS_URL=redis://127.0.0.1:6379/0
APT_PACKAGES=(janus janus-tools libjs-janus-gateway libjs-webrtc-adapter coturn caddy
  postgresql redis-server gettext fonts-dejavu-core iproute2)
# Debian's own units for these would take our ports; `diemcau serve` runs its own.
DEBIAN_SERVICES=(janus caddy coturn)

changes=0
changed() { printf '+ %s\n' "$*"; changes=$((changes + 1)); }
same() { printf '= %s\n' "$*"; }
warn() { printf '! %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

systemd_running() { [ -d /run/systemd/system ]; }
# Without systemd as PID 1 (a container, a chroot) unit files are still enabled, offline:
# the service starts at the next boot under systemd.
systemctl_files() { if systemd_running; then systemctl "$@"; else systemctl --root=/ "$@"; fi; }
as_user() { (cd / && runuser -u "$1" -- "${@:2}"); }
psql_admin() { as_user postgres psql -X -q -v ON_ERROR_STOP=1 -tA "$@"; }
mode_of() { stat -c '%a %U:%G' "$1"; }

# Set owner and mode of an existing path, saying so only if they were different.
ensure_mode() { # PATH MODE OWNER:GROUP
  if [ "$(mode_of "$1")" != "$2 $3" ]; then
    chown "$3" "$1"
    chmod "$2" "$1"
    changed "$1: mode $2, owner $3"
  fi
}

# --- the steps -------------------------------------------------------------------------

check_system() {
  [ "$(id -u)" = 0 ] || die "run as root (sudo make install)"
  local id="" version=""
  if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null
    id=$(. /etc/os-release && echo "${ID:-}")
    # shellcheck source=/dev/null
    version=$(. /etc/os-release && echo "${VERSION_ID:-}")
  fi
  case "$id $version" in
    "debian 12" | "debian 13" | "ubuntu 24.04") ;;
    *) warn "tested on Debian 12/13 and Ubuntu 24.04, this is ${id:-unknown} ${version}" ;;
  esac
  if [ -n "${DOMAIN:-}" ] && ! [[ $DOMAIN =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
    die "DOMAIN must be a host name such as meet.example.org (got '$DOMAIN')"
  fi
}

service_user() {
  if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    same "system user $SERVICE_USER: already there"
  else
    useradd --system --user-group --home-dir "$DATA" --no-create-home \
      --shell /usr/sbin/nologin --comment "Điểm Cầu" "$SERVICE_USER"
    changed "created system user $SERVICE_USER (no login, no password)"
  fi
}

data_folder() {
  if [ -d "$DATA" ]; then
    same "data folder $DATA: already there"
  else
    install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$DATA"
    changed "created the data folder $DATA (mode 0700, owner $SERVICE_USER)"
  fi
  ensure_mode "$DATA" 700 "$SERVICE_USER:$SERVICE_USER"
  # Only if an admin chose SQLite (DATABASE_URL empty): the database is the data.
  local sqlite=$DATA/diemcau.sqlite3
  [ ! -e "$sqlite" ] || ensure_mode "$sqlite" 600 "$SERVICE_USER:$SERVICE_USER"
}

# Which interpreter the virtualenv is made from. The system's python3 if it is 3.12 or newer
# (Debian 13, Ubuntu 24.04: security updates come with the system). Else PYTHON; if the
# service user cannot run that one (pyenv under /root, mode 0700), the install gets a copy
# of its own under /opt/diemcau/python: the service must not depend on root's home.
PY=""
PY_COPY=0
EXTRA_PACKAGES=()
choose_python() {
  local candidate
  if /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    PY=/usr/bin/python3
    EXTRA_PACKAGES+=(python3-venv) # Debian's python3 has no ensurepip without it
  else
    candidate=${PYTHON:-}
    [ -n "$candidate" ] && candidate=$(command -v "$candidate" || true)
    if [ -z "$candidate" ] || ! "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
      die "Python 3.12 or newer is needed (Django 6) and /usr/bin/python3 is older:" \
        "install one (e.g. with pyenv) and run: make install PYTHON=/path/to/python3.12"
    fi
    PY=$candidate
    if ! as_user "$SERVICE_USER" "$PY" -c 'import sys' 2>/dev/null; then
      PY_COPY=1
      if [ "$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("Py_ENABLE_SHARED"))')" = 1 ]; then
        EXTRA_PACKAGES+=(patchelf) # to point the copy's launcher at its own libpython
      fi
    fi
  fi
}

debian_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}" "${EXTRA_PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *"ok installed" ]] || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    same "Debian packages: all installed"
    return
  fi
  echo "  installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  changed "installed Debian packages: ${missing[*]}"
}

debian_services() {
  local s state disabled=0
  for s in "${DEBIAN_SERVICES[@]}"; do
    state=$(systemctl_files is-enabled "$s.service" 2>/dev/null || true)
    if [ "$state" = enabled ]; then
      if systemd_running; then systemctl disable --now "$s.service" >/dev/null 2>&1; else
        systemctl --root=/ disable "$s.service" >/dev/null 2>&1; fi
      changed "disabled Debian's $s.service (diemcau serve runs its own $s)"
      disabled=1
    fi
  done
  [ "$disabled" = 1 ] || same "Debian's janus, caddy and coturn services: not enabled"
}

python_for_service() {
  if [ "$PY_COPY" = 0 ]; then
    same "Python: $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
    return
  fi
  local base version mm stamp
  base=$("$PY" -c 'import sys; print(sys.base_prefix)')
  version=$("$PY" -c 'import platform; print(platform.python_version())')
  mm=${version%.*}
  stamp="$base $version"
  if [ -f "$OWN_PYTHON/.copied-from" ] && [ "$(cat "$OWN_PYTHON/.copied-from")" = "$stamp" ]; then
    same "Python: $OWN_PYTHON (copy of $base, $version)"
    PY=$OWN_PYTHON/bin/python$mm
    return
  fi
  rm -rf "$OWN_PYTHON"
  install -d -m 0755 "$PREFIX" "$OWN_PYTHON"
  # Its tests and root's own site-packages are not the service's.
  tar -C "$base" -cf - --exclude="./lib/python$mm/test" --exclude="./lib/python$mm/site-packages/*" \
    --exclude='*.a' --exclude='./bin/pip*' --exclude='./bin/idle*' --exclude='./bin/2to3*' \
    --exclude='./bin/pydoc*' . | tar -C "$OWN_PYTHON" --no-same-owner -xf -
  chmod -R go-w,go+rX "$OWN_PYTHON"
  PY=$OWN_PYTHON/bin/python$mm
  if command -v patchelf >/dev/null && [[ $(patchelf --print-rpath "$PY") == *"$base"* ]]; then
    patchelf --set-rpath "\$ORIGIN/../lib" "$PY"
  fi
  as_user "$SERVICE_USER" "$PY" -c 'import ssl, sqlite3, ctypes, zlib' ||
    die "the copy of $base in $OWN_PYTHON does not run as $SERVICE_USER"
  echo "$stamp" >"$OWN_PYTHON/.copied-from"
  changed "copied Python $version from $base to $OWN_PYTHON (the service cannot read $base)"
}

virtualenv() {
  local version
  version=$("$PY" -c 'import platform; print(platform.python_version())')
  if [ -f "$VENV/pyvenv.cfg" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null &&
    grep -qx "home = $(dirname "$PY")" "$VENV/pyvenv.cfg" &&
    grep -qx "version = $version" "$VENV/pyvenv.cfg"; then
    same "virtualenv $VENV: already there (Python $version)"
    return
  fi
  rm -rf "$VENV"
  install -d -m 0755 "$PREFIX"
  "$PY" -m venv "$VENV"
  changed "created the virtualenv $VENV (Python $version)"
}

# The app: a non-editable install of this checkout. Its files (pyproject.toml, README.md,
# src/) are staged in a temporary folder, so nothing is written into the checkout and what
# is installed is exactly what was hashed; the hash decides whether anything changed.
STAGE=""
trap '[ -z "$STAGE" ] || rm -rf "$STAGE"' EXIT
app() {
  local stage hash
  STAGE=$(mktemp -d)
  stage=$STAGE
  tar -C "$SRC" -cf - --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' \
    --exclude='*.mo' pyproject.toml README.md src | tar -C "$stage" -xf -
  hash=$(cd "$stage" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum)
  hash=${hash%% *}
  if [ -f "$VENV/.diemcau-source" ] && [ "$(cat "$VENV/.diemcau-source")" = "$hash" ]; then
    same "app: already installed from this source (sha256 ${hash:0:12})"
    return
  fi
  # Translations: .mo files are not committed; compiled here so the package carries them.
  local po
  while IFS= read -r -d '' po; do
    msgfmt --check-format -o "${po%.po}.mo" "$po"
  done < <(find "$stage/src" -name '*.po' -print0)
  echo "  installing the app into $VENV (pip)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir "$stage"
  # Static files are served by the app itself from the installed package (asgi.py's
  # ASGIStaticFilesHandler), so there is no collectstatic step.
  echo "$hash" >"$VENV/.diemcau-source"
  changed "installed the app into $VENV (source sha256 ${hash:0:12})"
}

# PostgreSQL: role and database "diemcau"; the service user connects over the unix socket
# with peer authentication (Debian's default for local connections), so no password exists.
database() {
  pg_isready -q -h "$PG_SOCKET" ||
    die "PostgreSQL does not answer on $PG_SOCKET: start it (systemctl start postgresql) and retry"
  if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_NAME'")" = 1 ]; then
    same "PostgreSQL role $DB_NAME: already there"
  else
    psql_admin -c "CREATE ROLE $DB_NAME LOGIN"
    changed "created the PostgreSQL role $DB_NAME (peer authentication, no password)"
  fi
  if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" = 1 ]; then
    same "PostgreSQL database $DB_NAME: already there"
  else
    as_user postgres createdb --owner="$DB_NAME" --encoding=UTF8 --template=template0 "$DB_NAME"
    changed "created the PostgreSQL database $DB_NAME (owner $DB_NAME)"
  fi
}

# The env file is the admin's once written: only lines whose variable is missing are added.
# A variable that is there commented out ("# REDIS_URL=…") or empty counts as there.
env_file() {
  local socket=${PG_SOCKET//\//%2F}
  local -a lines=(
    "DIEMCAU_DATA_DIR=$DATA"
    "# PostgreSQL over its unix socket, peer authentication as the diemcau user: no password."
    "DATABASE_URL=postgres://$DB_NAME@$socket/$DB_NAME"
    "# The Channels layer (several app processes may share it)."
    "REDIS_URL=$REDIS_URL"
  )
  [ -z "${DOMAIN:-}" ] || lines+=("# A public name: Caddy gets its certificate by ACME." "DIEMCAU_DOMAIN=$DOMAIN")
  if [ -d "$ETC" ]; then same "$ETC: already there"; else
    install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC"
    changed "created $ETC"
  fi
  ensure_mode "$ETC" 750 "root:$SERVICE_USER"
  local new=0
  if [ ! -e "$ENV_FILE" ]; then
    install -m 0640 -o root -g "$SERVICE_USER" /dev/null "$ENV_FILE"
    cat >"$ENV_FILE" <<'EOF'
# Điểm Cầu's settings: read by diemcau.service (EnvironmentFile=) and by the `diemcau`
# command in /usr/local/sbin. Every variable is described in README.md ("Configuration").
# `make install` adds a line only when its variable is missing here; it never changes yours.
# To turn one of its lines off, comment it out or empty it (NAME=). Then:
#   systemctl restart diemcau
EOF
    new=1
  fi
  local line key comment="" added=()
  for line in "${lines[@]}"; do
    if [[ $line == \#* ]]; then comment=$line; continue; fi
    key=${line%%=*}
    if grep -Eq "^[[:space:]]*#?[[:space:]]*$key=" "$ENV_FILE"; then
      if [ "$key" = DIEMCAU_DOMAIN ] && ! grep -qx "$line" "$ENV_FILE"; then
        warn "DIEMCAU_DOMAIN is already set in $ENV_FILE, not to $DOMAIN: change it there"
      fi
    else
      [ -z "$comment" ] || printf '%s\n' "$comment" >>"$ENV_FILE"
      printf '%s\n' "$line" >>"$ENV_FILE"
      added+=("$key")
    fi
    comment=""
  done
  if [ "$new" = 1 ]; then changed "wrote $ENV_FILE (${added[*]})"
  elif [ ${#added[@]} -gt 0 ]; then changed "added to $ENV_FILE: ${added[*]}"
  else same "$ENV_FILE: already has every setting (not rewritten)"; fi
  ensure_mode "$ENV_FILE" 640 "root:$SERVICE_USER"
}

redis() {
  if command -v redis-cli >/dev/null && [ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" = PONG ]; then
    same "Redis answers at $REDIS_URL"
  else
    warn "Redis does not answer at $REDIS_URL: start redis-server (live meetings need it)"
  fi
}

# `diemcau COMMAND` for the admin: runs as the service user with the env file's settings.
admin_command() {
  if cmp -s "$SRC/deploy/diemcau-admin" "$ADMIN_COMMAND"; then
    same "admin command $ADMIN_COMMAND: already installed"
  else
    install -m 0755 "$SRC/deploy/diemcau-admin" "$ADMIN_COMMAND"
    changed "installed $ADMIN_COMMAND (diemcau createsuperuser, doctor, import-sites, …)"
  fi
}

migrations() {
  if "$ADMIN_COMMAND" migrate --check -v 0 >/dev/null 2>&1; then
    same "database schema: up to date"
  else
    "$ADMIN_COMMAND" migrate --noinput -v 0
    changed "applied the database migrations (as $SERVICE_USER)"
  fi
}

unit() {
  if cmp -s "$SRC/deploy/diemcau.service" "$UNIT"; then
    same "systemd unit $UNIT: already installed"
  else
    install -m 0644 "$SRC/deploy/diemcau.service" "$UNIT"
    changed "installed the systemd unit $UNIT"
    ! systemd_running || systemctl daemon-reload
  fi
  if [ "$(systemctl_files is-enabled diemcau.service 2>/dev/null || true)" = enabled ]; then
    same "diemcau.service: enabled"
  else
    systemctl_files enable diemcau.service >/dev/null 2>&1
    changed "enabled diemcau.service (starts at boot)"
  fi
  if ! systemd_running; then
    warn "systemd is not running (not PID 1): diemcau.service was not started"
    return
  fi
  if ! systemctl is-active -q diemcau.service; then
    systemctl start diemcau.service
    changed "started diemcau.service"
  elif [ "$changes" -gt 0 ]; then
    systemctl restart diemcau.service
    changed "restarted diemcau.service (something above changed)"
  else
    same "diemcau.service: running"
  fi
}

install_all() {
  check_system
  service_user
  data_folder
  choose_python
  debian_packages
  debian_services
  python_for_service
  virtualenv
  app
  database
  env_file
  redis
  admin_command
  migrations
  unit
  if [ "$changes" = 0 ]; then
    echo "Điểm Cầu is already installed: nothing changed."
  else
    echo "Điểm Cầu is installed ($changes change$([ "$changes" = 1 ] || echo s))."
  fi
  cat <<EOF
  settings:  $ENV_FILE (then: systemctl restart diemcau)
  data:      $DATA (secrets, the local CA, generated configs, logs: janus/, caddy/, turn/)
  logs:      journalctl -u diemcau
  commands:  diemcau createsuperuser, diemcau doctor, diemcau import-sites FILE (as root)
EOF
}

uninstall_all() {
  [ "$(id -u)" = 0 ] || die "run as root (sudo make uninstall)"
  if [ -e "$UNIT" ]; then
    if systemd_running; then
      systemctl disable --now diemcau.service >/dev/null 2>&1 || true
      rm -f "$UNIT"
      systemctl daemon-reload
    else
      systemctl --root=/ disable diemcau.service >/dev/null 2>&1 || true
      rm -f "$UNIT"
    fi
    changed "$(systemd_running && echo "stopped, ")disabled and removed diemcau.service"
  else
    same "systemd unit: not installed"
  fi
  if [ -e "$ADMIN_COMMAND" ]; then
    rm -f "$ADMIN_COMMAND"
    changed "removed $ADMIN_COMMAND"
  fi
  if [ -e "$PREFIX" ]; then
    rm -rf "$PREFIX"
    changed "removed $PREFIX (the virtualenv)"
  else
    same "$PREFIX: not there"
  fi
  if pgrep -u "$SERVICE_USER" >/dev/null 2>&1; then
    warn "processes of $SERVICE_USER still run (started by hand?): $(pgrep -d ' ' -u "$SERVICE_USER")"
  fi
  if [ "$changes" = 0 ]; then echo "Điểm Cầu is not installed: nothing changed."; fi
  cat <<EOF
Kept, so that a later \`make install\` picks them up again (to delete them as well):
  the data folder $DATA (secrets, the local CA's key, uploads):  rm -rf $DATA
  the settings $ENV_FILE:  rm -rf $ETC
  the PostgreSQL database and role $DB_NAME:  runuser -u postgres -- dropdb $DB_NAME; runuser -u postgres -- dropuser $DB_NAME
  the system user $SERVICE_USER:  userdel $SERVICE_USER
  the Debian packages (janus, caddy, coturn, postgresql, redis-server, …)
EOF
}

case "${1:-}" in
  install) install_all ;;
  uninstall) uninstall_all ;;
  *) die "usage: $0 install|uninstall" ;;
esac
