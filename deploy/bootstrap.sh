#!/usr/bin/env bash
# Idempotent installer for running ordermesh's tests on a fresh Debian 12 machine (or a prepared one).
#
#   deploy/bootstrap.sh                 system packages (PostgreSQL, ZooKeeper, Java) + .venv
#                                       + the hot modules compiled with mypyc (deploy/compile.py)
#   deploy/bootstrap.sh --python-only   just .venv (all `ordermesh demo` needs)
#   deploy/bootstrap.sh --bench         the above, plus g++, pkg-config and grpc++ for the benchmarks'
#                                       C++ load generator (tests/benchmarks/loadgen.cc)
#
# System packages come from apt and only when missing (needs root; without root, present packages
# are fine and missing ones are a loud error). The .venv is created with python3 >= 3.11 and
# `pip install -e '.[dev,fast]'` re-runs only when pyproject.toml changed (hash stamp inside .venv).
# Silent when there is nothing to do; one line per action taken; the tool's log on failure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python_only=false
bench=false
case "${1:-}" in
  "") ;;
  --python-only) python_only=true ;;
  --bench) bench=true ;;
  *) echo "usage: $0 [--python-only | --bench]" >&2; exit 2 ;;
esac

log=$(mktemp -t ordermesh-bootstrap.XXXXXX)
trap 'rm -f "$log"' EXIT

say() { echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: ERROR: $*" >&2; exit 1; }

# Run a command with its output kept in $log; on failure show the tail and stop.
run() {
  if ! "$@" >>"$log" 2>&1; then
    echo "bootstrap: FAILED: $*" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
}

# --- system packages -------------------------------------------------------------------------
apt_updated=false
apt_install() {
  [ "$(id -u)" -eq 0 ] || die "missing $*; run this script as root, or: apt-get install -y $*"
  command -v apt-get >/dev/null || die "missing $* and no apt-get on this machine; install them by hand"
  export DEBIAN_FRONTEND=noninteractive
  if ! $apt_updated; then
    run apt-get update -q
    apt_updated=true
  fi
  say "installing $* (apt)"
  run apt-get install -y -q --no-install-recommends "$@"
}

have_postgres_server() {
  local dir
  for dir in "$(dirname "$(readlink -f "$(command -v initdb || echo /nonexistent)")")" /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
      return 0
    fi
  done
  return 1
}

have_zookeeper() {
  compgen -G '/usr/share/zookeeper/lib/*.jar' >/dev/null || compgen -G '/usr/share/java/zookeeper*.jar' >/dev/null
}

# Debian's postgresql package creates and starts a default cluster on 5432. We start our own temp
# clusters on free ports, so stop it and keep it from starting at boot: it would only hold memory.
quiet_default_clusters() {
  command -v pg_lsclusters >/dev/null || return 0
  local version name _port status _rest
  while read -r version name _port status _rest; do
    [ -n "$name" ] || continue
    if [ "$status" = online ]; then
      pg_ctlcluster "$version" "$name" stop >>"$log" 2>&1 || true
    fi
    if [ -w "/etc/postgresql/$version/$name/start.conf" ]; then
      echo manual >"/etc/postgresql/$version/$name/start.conf"
    fi
  done < <(pg_lsclusters -h 2>/dev/null || true)
}

if ! $python_only; then
  if ! have_postgres_server; then
    apt_install postgresql
    quiet_default_clusters
    have_postgres_server || die "postgresql installed but initdb/pg_ctl/postgres still not found"
  fi
  have_zookeeper || apt_install zookeeper
  have_zookeeper || die "zookeeper installed but no jars in /usr/share/zookeeper/lib or /usr/share/java"
  command -v java >/dev/null || apt_install default-jre-headless
  command -v java >/dev/null || die "java still missing after installing default-jre-headless"
fi

# The benchmarks' light client: without it they fall back to the Python client (and say so), so a
# machine where these cannot be installed still benchmarks.
if $bench && ! { command -v g++ && command -v pkg-config && pkg-config --exists grpc++; } >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    apt_install g++ pkg-config libgrpc++-dev
  else
    say "no C++ load generator toolchain (g++, pkg-config, libgrpc++-dev): benchmarks use the Python client"
  fi
fi

# --- python environment ----------------------------------------------------------------------
venv="$repo/.venv"
stamp="$venv/.ordermesh-pyproject.sha256"

python_ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

find_python() {
  local candidate
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  python=$(find_python) || {
    apt_install python3 python3-venv
    python=$(find_python) || die "no python3 >= 3.11 with the venv module found"
  }
  say "creating .venv with $python"
  run "$python" -m venv "$venv"
fi

want=$(sha256sum "$repo/pyproject.toml" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  say "installing ordermesh[dev,fast] into .venv (pyproject.toml changed)"
  run "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$repo[dev,fast]"
  echo "$want" >"$stamp"
fi

# --- compiled hot path -----------------------------------------------------------------------
# CreateOrder's hot modules as C (deploy/compile.py: mypyc, in place), rebuilt when their sources
# changed; pure Python where no C compiler is found. `make demo` does not need them.
if [ "$python_only" = false ]; then
  (cd "$repo" && "$venv/bin/python" -m deploy.compile) >&2 || die "compiling the hot modules failed (see above)"
fi
