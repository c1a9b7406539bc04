#!/bin/sh
# Create the posd system user before the files are unpacked, so that the
# configuration and data directory get its group and owner. Honours
# DPKG_ROOT (dpkg --root with --force-script-chrootless).
set -e
root="${DPKG_ROOT:-}"
if ! grep -q '^posd:' "$root/etc/group" 2>/dev/null; then
  if [ -n "$root" ]; then
    groupadd --prefix "$root" --system posd
  else
    groupadd --system posd
  fi
fi
if ! grep -q '^posd:' "$root/etc/passwd" 2>/dev/null; then
  if [ -n "$root" ]; then
    useradd --prefix "$root" --system --gid posd --home-dir /var/lib/posd --no-create-home \
      --shell /usr/sbin/nologin --comment "posd till payments" posd
  else
    useradd --system --gid posd --home-dir /var/lib/posd --no-create-home \
      --shell /usr/sbin/nologin --comment "posd till payments" posd
  fi
fi
exit 0
