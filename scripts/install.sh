#!/usr/bin/env bash
# Installs what Shadow-Optic needs on a fresh Debian machine: redis-server, chromium and chromium-driver
# (Debian packages; the browser is only for the review page's test), the
# Python package with its test extras, and checks Java 17+ and Maven (the local Kafka comes from
# Maven Central). Safe to run again: every step is skipped when already done.
#
# The interpreter: $PYTHON (default python3). When it is "externally managed" (PEP 668: Debian 12+
# and Ubuntu 23.04+ system Pythons refuse `pip install` outside a virtual environment), the package
# goes into a virtual environment .venv at the repository root instead (created once; Debian's
# python3-venv is installed for it when missing). Once .venv exists it is always used. It prints
# which interpreter it used; ./shadow-optic runs the CLI (and `./shadow-optic test` the tests) with
# that same interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-python3}"
venv_dir=.venv

# PEP 668: the marker file in the interpreter's stdlib directory, ignored inside a virtual environment.
externally_managed() {
  "$1" - <<'PY' >/dev/null 2>&1
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if os.path.isfile(marker) and sys.prefix == sys.base_prefix else 1)
PY
}

use_venv=0
if [ -x "$venv_dir/bin/python" ]; then
  use_venv=1
elif externally_managed "$python_bin"; then
  use_venv=1
fi

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
# The review page's browser test: headless Chromium and its driver from Debian (nothing fetched at test time).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# `stack up --secure` (and its tests) makes the CA and broker certificate with the openssl command.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# Debian's interpreter has the venv module but not ensurepip (pip in the venv) without python3-venv.
if [ "$use_venv" = 1 ] && [ ! -x "$venv_dir/bin/python" ] \
   && ! "$python_bin" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need_apt+=(python3-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

"$python_bin" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'

make_venv() {
  if [ ! -x "$venv_dir/bin/python" ]; then
    echo "$python_bin is externally managed (PEP 668): installing into a virtual environment $venv_dir" >&2
    "$python_bin" -m venv "$venv_dir"
  fi
  python_bin="$venv_dir/bin/python"
}
if [ "$use_venv" = 1 ]; then
  make_venv
fi

pip_install() {
  "$python_bin" -m pip install -q --disable-pip-version-check -e '.[test]'
}

if ! "$python_bin" -c 'import shadow_optic, chdb, faust, confluent_kafka, pytest' >/dev/null 2>&1 \
   || [ pyproject.toml -nt .shadow-optic-installed ]; then
  echo "installing the shadow-optic Python package (editable, with test extras)" >&2
  if [ "$use_venv" = 1 ]; then
    pip_install
  else
    # Not marked, yet pip may still refuse (a distribution that says so only when asked): then a venv.
    log=$(mktemp)
    if pip_install 2>"$log"; then
      cat "$log" >&2
    elif grep -q externally-managed-environment "$log"; then
      use_venv=1
      make_venv
      pip_install
    else
      cat "$log" >&2
      rm -f "$log"
      exit 1
    fi
    rm -f "$log"
  fi
  touch .shadow-optic-installed
fi

echo "shadow-optic: installed for $("$python_bin" -c 'import sys; print(sys.executable, "(Python %d.%d.%d)" % sys.version_info[:3])')$([ "$use_venv" = 1 ] && echo ", a virtual environment: run it with ./shadow-optic")" >&2
