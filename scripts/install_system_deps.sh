#!/usr/bin/env bash
# Installs the Debian packages the test suite needs: a local SLURM cluster (slurm) and headless
# Chromium for the report browser test (browser). Idempotent; a no-op in well under a second when
# everything is present. Needs root (or password-less sudo) and apt-get.
#
#   scripts/install_system_deps.sh            # all groups
#   scripts/install_system_deps.sh slurm      # only the SLURM cluster packages
#   scripts/install_system_deps.sh browser    # only chromium + chromedriver
#   scripts/install_system_deps.sh --check    # exit 1 (listing them) if packages are missing
set -euo pipefail

SLURM_PKGS=(slurmctld slurmd slurm-client munge slurmdbd slurm-wlm-mysql-plugin
            mariadb-server-core mariadb-client-core)
BROWSER_PKGS=(chromium chromium-driver)

check_only=0
groups=()
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    slurm|browser|all) groups+=("$arg") ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install_system_deps: unknown argument '$arg' (use slurm, browser, all, --check)" >&2; exit 2 ;;
  esac
done
[ ${#groups[@]} -eq 0 ] && groups=(all)

wanted=()
for g in "${groups[@]}"; do
  case "$g" in
    slurm) wanted+=("${SLURM_PKGS[@]}") ;;
    browser) wanted+=("${BROWSER_PKGS[@]}") ;;
    all) wanted+=("${SLURM_PKGS[@]}" "${BROWSER_PKGS[@]}") ;;
  esac
done

missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$check_only" = 1 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "install_system_deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "install_system_deps: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi

# Package maintainer scripts must not start daemons (no init system here; the test cluster
# starts its own): add a deny-all policy-rc.d for the duration unless one exists.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt_install() {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" >/tmp/install_system_deps.$$.log 2>&1
}
echo "install_system_deps: installing ${missing[*]}" >&2
if ! apt_install; then
  # Stale or absent package lists on a fresh machine: refresh once and retry.
  "${SUDO[@]}" apt-get update -qq >>/tmp/install_system_deps.$$.log 2>&1 || true
  if ! apt_install; then
    tail -n 30 /tmp/install_system_deps.$$.log >&2
    echo "install_system_deps: apt-get install failed (log above)" >&2
    exit 1
  fi
fi
rm -f /tmp/install_system_deps.$$.log
