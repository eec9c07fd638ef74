#!/usr/bin/env bash
# Installs the Debian packages canaryd needs to build, test and run its demo, if any are
# missing. Run as root on Debian 12 (it calls apt-get); does nothing when all are present.
#   scripts/deps.sh          build + demo dependencies
#   scripts/deps.sh --test   also the test tools (cmocka, clang's sanitizer runtime, PyYAML, kubectl,
#                            systemd-analyze, dpkg-dev, lintian, groff, prometheus and
#                            promtool, chromium)
set -euo pipefail

pkgs=(build-essential cmake pkg-config libcurl4-openssl-dev libcjson-dev libyaml-dev
      libsystemd-dev libmicrohttpd-dev libssl-dev python3 curl ca-certificates)
if [ "${1:-}" = --test ]; then
	pkgs+=(libcmocka-dev clang libclang-rt-14-dev clang-format openssl)
	# the tests read canaryctl's -o yaml back with a real YAML parser
	pkgs+=(python3-yaml)
	# stock kubectl for the Kubernetes emulation test; Debian ships it as kubernetes-client
	command -v kubectl >/dev/null 2>&1 || pkgs+=(kubernetes-client)
	# unit checks (systemd-analyze, sysusers, tmpfiles, socket-activate), the .deb (cpack needs
	# dpkg-shlibdeps from dpkg-dev; CPackDeb needs file), man page lint (groff)
	pkgs+=(systemd dpkg-dev file groff-base gzip)
	# the .deb must be lintian --pedantic clean (e2e/lintian); shellcheck for its maintainer
	# scripts (e2e/install)
	pkgs+=(lintian shellcheck)
	# the HTTP endpoint's /metrics: promtool checks the format, a real Prometheus server scrapes
	pkgs+=(prometheus)
	# a rollout's report page is loaded in a real browser (headless) by e2e/report
	pkgs+=(chromium)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "canaryd: missing Debian packages: ${missing[*]}" >&2
	echo "canaryd: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "canaryd: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
