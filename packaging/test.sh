#!/usr/bin/env bash
# Tests the packages: builds them (packaging/build.sh), checks what each
# carries, installs the .deb into a throwaway root with dpkg --root (the
# maintainer scripts run with DPKG_ROOT set), checks the user, unit, udev
# rules, configuration and data directory with their owners and modes,
# verifies the unit with systemd-analyze, then upgrades with an edited
# configuration and a journal in place and checks both are kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dist="$root/dist"
fail() { echo "packaging test FAILED: $*" >&2; exit 1; }
pass=0
ok() { pass=$((pass + 1)); }

VERSION=0.1.0 bash "$here/build.sh" >/dev/null

echo "== package contents"
deb="$dist/posd_0.1.0_amd64.deb"
listing=$(dpkg-deb -c "$deb")
for f in ./usr/bin/posd ./usr/lib/systemd/system/posd.service ./usr/lib/udev/rules.d/70-posd.rules \
         ./etc/posd/posd.toml ./var/lib/posd/ ./usr/share/doc/posd/install.md; do
  grep -q " $f\$" <<<"$(awk '{print " "$6}' <<<"$listing")" || fail "the .deb lacks $f"
  ok
done
grep -qx "/etc/posd/posd.toml" <(dpkg-deb -I "$deb" conffiles) || fail "posd.toml is not a conffile"; ok
if command -v rpm >/dev/null; then
  rpmlist=$(rpm -qlp "$dist/posd-0.1.0-1.x86_64.rpm" 2>/dev/null)
  for f in /usr/bin/posd /usr/lib/systemd/system/posd.service /usr/lib/udev/rules.d/70-posd.rules /etc/posd/posd.toml /var/lib/posd; do
    grep -qx "$f" <<<"$rpmlist" || fail "the .rpm lacks $f"
    ok
  done
  rpm -qp --configfiles "$dist/posd-0.1.0-1.x86_64.rpm" 2>/dev/null | grep -x /etc/posd/posd.toml >/dev/null || fail "posd.toml is not an rpm config file"; ok
else
  echo "rpm not installed: .rpm built but not listed"
fi
[ -f "$dist/posd.exe" ] || fail "no posd.exe"; ok
file_type=$(head -c 2 "$dist/posd.exe")
[ "$file_type" = "MZ" ] || fail "posd.exe is not a Windows executable"; ok
if [ -f "$dist/posd-0.1.0.msi" ]; then
  grep -q <<<"$(msiinfo export "$dist/posd-0.1.0.msi" File)" "posd.exe" || fail "the MSI lacks posd.exe"; ok
  grep -q <<<"$(msiinfo export "$dist/posd-0.1.0.msi" ServiceInstall)" "LocalSystem" || fail "the MSI installs no service"; ok
  grep -q <<<"$(msiinfo export "$dist/posd-0.1.0.msi" ServiceControl)" "posd" || fail "the MSI does not start/remove the service"; ok
  grep -q <<<"$(msiinfo export "$dist/posd-0.1.0.msi" ServiceInstall)" 'run --config "\[CommonAppDataFolder\]posd\\posd.toml"' || fail "the service's configuration path is not quoted"; ok
  grep -q <<<"$(msiinfo export "$dist/posd-0.1.0.msi" LaunchCondition)" "VersionNT64 >= 603" || fail "the MSI does not refuse Windows 7/8"; ok
  grep -q <<<"$(msiinfo export "$dist/posd-0.1.0.msi" Upgrade)" "WIX_UPGRADE_DETECTED" || fail "the MSI does not replace an older version"; ok
fi

echo "== install into a throwaway root"
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc" "$R/usr/sbin"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf 'root:*::0:99999:7:::\n' >"$R/etc/shadow"
printf 'root:*::\n' >"$R/etc/gshadow"
chmod 0640 "$R/etc/shadow" "$R/etc/gshadow"
install_deb() {
  DPKG_ROOT="$R" dpkg --root="$R" --force-script-chrootless --force-depends --force-confold \
    --log=/dev/null -i "$1" >/dev/null 2>"$R/dpkg.err" || { cat "$R/dpkg.err" >&2; fail "dpkg -i $1"; }
}
install_deb "$deb"

uid=$(awk -F: '$1=="posd"{print $3}' "$R/etc/passwd")
gid=$(awk -F: '$1=="posd"{print $3}' "$R/etc/group")
[ -n "$uid" ] || fail "no posd user"; ok
[ -n "$gid" ] || fail "no posd group"; ok
awk -F: '$1=="posd"{exit !($7=="/usr/sbin/nologin" && $6=="/var/lib/posd")}' "$R/etc/passwd" || fail "posd user has a login shell or wrong home"; ok
[ "$uid" -lt 1000 ] || fail "posd is not a system user (uid $uid)"; ok

check() { # path mode uid gid
  [ -e "$R$1" ] || fail "$1 missing"
  got=$(stat -c '%a %u %g' "$R$1")
  [ "$got" = "$2 $3 $4" ] || fail "$1 is $got, want $2 $3 $4"
  ok
}
check /usr/bin/posd 755 0 0
check /usr/lib/systemd/system/posd.service 644 0 0
check /usr/lib/udev/rules.d/70-posd.rules 644 0 0
check /etc/posd 750 0 "$gid"
check /etc/posd/posd.toml 640 0 "$gid"
check /var/lib/posd 700 "$uid" "$gid"
[ -L "$R/etc/systemd/system/multi-user.target.wants/posd.service" ] || fail "the service is not enabled"; ok
grep -q 'GROUP="posd"' "$R/usr/lib/udev/rules.d/70-posd.rules" || fail "udev rules do not grant the posd group"; ok

"$R/usr/bin/posd" version | grep "posd 0.1.0" >/dev/null || fail "posd version"; ok
"$R/usr/bin/posd" config check --config "$R/etc/posd/posd.toml" --data-dir "$R/tmp-data" >/dev/null || fail "the packaged configuration does not check"; ok

if command -v systemd-analyze >/dev/null; then
  unitdir=$(mktemp -d)
  sed "s|/usr/bin/posd|$R/usr/bin/posd|" "$R/usr/lib/systemd/system/posd.service" >"$unitdir/posd.service"
  out=$(systemd-analyze verify "$unitdir/posd.service" 2>&1) || { echo "$out" >&2; fail "systemd-analyze verify"; }
  # verify exits 0 on ignored settings; any remark about the unit fails.
  if grep -q "posd.service" <<<"$out"; then
    echo "$out" >&2; fail "systemd-analyze verify complained about posd.service"
  fi
  rm -rf "$unitdir"
  ok
else
  echo "systemd-analyze not installed: unit not verified"
fi

echo "== upgrade keeps an edited configuration and the journal"
echo 'till_id = "till-07"  # edited by the installer' >>"$R/etc/posd/posd.toml"
sed -i '0,/^till_id = "till-01".*/s//# till_id moved to the end/' "$R/etc/posd/posd.toml"
printf 'journal bytes' >"$R/var/lib/posd/posd.db"
chown "$uid:$gid" "$R/var/lib/posd/posd.db"
(cd "$here" && ARCH=amd64 VERSION=0.1.1 ${NFPM:-go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.44.0} \
  package --config nfpm.yaml --packager deb --target "$dist/" >/dev/null)
install_deb "$dist/posd_0.1.1_amd64.deb"
dpkg --root="$R" -s posd | grep '^Version: 0.1.1' >/dev/null || fail "not upgraded"; ok
grep -q 'till-07' "$R/etc/posd/posd.toml" || fail "the edited configuration was replaced"; ok
[ "$(cat "$R/var/lib/posd/posd.db")" = "journal bytes" ] || fail "the journal changed"; ok
check /etc/posd/posd.toml 640 0 "$gid"
check /var/lib/posd 700 "$uid" "$gid"
[ "$(grep -c '^posd:' "$R/etc/passwd")" = 1 ] || fail "the upgrade added a second posd user"; ok

echo "$pass passed, 0 failed"
