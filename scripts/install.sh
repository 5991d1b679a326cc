#!/usr/bin/env bash
# Installs what Shadow-Optic needs on a fresh Debian machine: redis-server (Debian package), the
# Python package with its test extras, and checks Java 17+ and Maven (the local Kafka comes from
# Maven Central). Safe to run again: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python_bin="${PYTHON:-python3}"
"$python_bin" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
if ! "$python_bin" -c 'import shadow_optic, chdb, faust, confluent_kafka, pytest' >/dev/null 2>&1 \
   || [ pyproject.toml -nt .shadow-optic-installed ]; then
  echo "installing the shadow-optic Python package (editable, with test extras)" >&2
  "$python_bin" -m pip install -q --disable-pip-version-check -e '.[test]'
  touch .shadow-optic-installed
fi
