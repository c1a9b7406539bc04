#!/bin/sh
# Stop and disable posd when the package is removed (not on upgrade).
# $1 is "remove" (deb) or 0 = remove, 1 = upgrade (rpm).
set -e
case "$1" in
  remove|0)
    if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
      systemctl disable --now posd.service >/dev/null 2>&1 || true
    fi ;;
esac
exit 0
