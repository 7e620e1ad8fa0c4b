#!/usr/bin/env bash
# Installs the real external programs the integration tests drive (Prometheus, promtool,
# Alertmanager, Chromium) and the C toolchain with gcc's AddressSanitizer and UndefinedBehaviorSanitizer runtimes
# (scripts/sanitize_c.py) from Debian's packages when they are missing. Needs root for apt.
set -euo pipefail
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || missing+=(prometheus-alertmanager)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v gcc >/dev/null || missing+=(gcc)
# gcc prints the bare name back when it has no such library
case "$(gcc -print-file-name=libasan.so 2>/dev/null)" in /*) ;; *) missing+=(libasan8) ;; esac
case "$(gcc -print-file-name=libubsan.so 2>/dev/null)" in /*) ;; *) missing+=(libubsan1) ;; esac
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "missing system packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
