#!/usr/bin/env bash
# Debian packages the tests drive, installed once with apt-get when their command is missing:
#   chromium                 renders the HTML report (tests/e2e/test_report_html.py)
#   docker-compose           validates docker-compose.yml without an engine (tests/contract/test_compose.py)
#   prometheus               scrapes a processor; every dashboard panel is evaluated through it
#   prometheus-alertmanager  receives budget alerts (the alertmanager:// channel)
# Nothing is installed when every command is there. A package that cannot be installed
# does not stop the suite: the tests that need it fail in CI and say which is missing.
set -uo pipefail

declare -A package_of=(
    [chromium]=chromium
    [docker-compose]=docker-compose
    [prometheus]=prometheus
    [prometheus-alertmanager]=prometheus-alertmanager
)
missing=()
for command in "${!package_of[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "test-deps: installing ${missing[*]} (apt-get)"
if $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null; then
    exit 0
fi
echo "test-deps: could not install ${missing[*]}; the tests that need them will say so" >&2
exit 0
