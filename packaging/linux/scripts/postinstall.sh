#!/bin/sh
# Enable and start posd on first install; restart it on upgrade. The
# configuration is a config file: an edited one is kept on upgrade.
# $1 is "configure" (deb) or 1 = install, 2 = upgrade (rpm).
set -e
root="${DPKG_ROOT:-}"
# Numeric ids from the target's own account files: with DPKG_ROOT the
# host's may not know posd.
uid=$(awk -F: '$1=="posd"{print $3}' "$root/etc/passwd")
gid=$(awk -F: '$1=="posd"{print $3}' "$root/etc/group")
chgrp "$gid" "$root/etc/posd" "$root/etc/posd/posd.toml"
chmod 0750 "$root/etc/posd"
chmod 0640 "$root/etc/posd/posd.toml"
chown "$uid:$gid" "$root/var/lib/posd"
chmod 0700 "$root/var/lib/posd"

upgrade=false
case "$1" in
  configure) [ -n "$2" ] && upgrade=true ;;
  2) upgrade=true ;;
esac

if [ -n "$root" ]; then
  # Installing into another root: enable only; nothing runs there.
  systemctl --root="$root" enable posd.service >/dev/null 2>&1 || \
    { mkdir -p "$root/etc/systemd/system/multi-user.target.wants" && \
      ln -sf /usr/lib/systemd/system/posd.service "$root/etc/systemd/system/multi-user.target.wants/posd.service"; }
  exit 0
fi
if command -v udevadm >/dev/null 2>&1; then
  udevadm control --reload >/dev/null 2>&1 || true
  udevadm trigger --subsystem-match=tty --subsystem-match=usb --subsystem-match=usbmisc --subsystem-match=hidraw >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if $upgrade; then
    systemctl try-restart posd.service
  else
    systemctl enable --now posd.service
  fi
fi
exit 0
