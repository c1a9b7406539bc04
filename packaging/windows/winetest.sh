#!/usr/bin/env bash
# Runs the Windows build under Wine (Debian's wine 8.0), as a new user on a
# Windows till would: posd.exe on its own (version, config check, run with
# a Windows-path configuration, a payment, a scanned one, a refund, a
# receipt, a graceful stop), then as a service (install, start, status,
# net start/stop, sc query, a payment, its log reaching the Event Log API,
# uninstall), then the MSI (refused on Windows 7, installed, the service
# running with a quoted ImagePath, a payment, an upgrade, uninstalled with
# the configuration and journal kept).
#
# Needs dist/posd.exe and dist/posd-0.1.0.msi (packaging/build.sh). The
# Wine prefix is a throwaway one, without the Z: drive (the Windows side
# cannot touch the host's files), and is removed at the end with its
# wineserver. Go 1.24+ needs ProcessPrng, which Wine 8.0 lacks: the
# test-only shim in winetest/ (never shipped, never in the MSI) provides it.
# What Wine cannot show is listed in docs/install.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dist="$root/dist"
[ -f "$dist/posd.exe" ] && [ -f "$dist/posd-0.1.0.msi" ] || { echo "winetest: build dist/ first (packaging/build.sh)" >&2; exit 1; }

work=$(mktemp -d)
export WINEPREFIX="$work/prefix" WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="bcryptprimitives=n;mscoree,mshtml="
cleanup() {
  wineserver -k >/dev/null 2>&1 || true
  [ -n "${runpid:-}" ] && kill "$runpid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
pass=0
ok() { pass=$((pass + 1)); }
fail() {
  echo "winetest FAILED: $*" >&2
  for f in "$work"/*.log; do
    case $f in *services.log) continue ;; esac
    [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
  done
  exit 1
}
w() { timeout 120 wine "$@" 2>>"$work/wine.log" | tr -d '\r'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http() { curl -s --max-time 30 "$@"; }
state_of() { grep -o '"state":"[a-z_]*"' | head -1 | cut -d'"' -f4; }
id_of() { grep -o '"id":"pay_[a-z0-9]*"' | head -1 | cut -d'"' -f4; }
wait_health() {
  for _ in $(seq 1 150); do http -f "$1/v1/health" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
settled() { # base token order: the payment's state once settled
  http -H "Authorization: Bearer $2" "$1/v1/payments?order_id=$3&wait=20" | state_of
}

echo "== wine prefix"
wineboot -i >/dev/null 2>&1
winecfg -v win10 >/dev/null 2>&1
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  "$here/winetest/processprng.c" "$here/winetest/processprng.def" -lbcrypt
c="$WINEPREFIX/drive_c"
cd "$c" # a directory Wine can map once Z: is gone (or it says so on every command)
mkdir -p "$c/posd"
cp "$dist/posd.exe" "$dist/posd-0.1.0.msi" "$c/posd/"
wineserver -k
rm -f "$WINEPREFIX/dosdevices/z:"
[ ! -e "$WINEPREFIX/dosdevices/z:" ] || fail "the Z: drive is still mapped"; ok
# A persistent wineserver (services keep running between wine commands),
# and services.exe started with the Event Log traced to services.log.
wineserver -p
WINEDEBUG=-all,+eventlog wine wineboot >"$work/services.log" 2>&1

echo "== posd.exe"
exe='C:\posd\posd.exe'
w "$exe" version | grep "posd" >/dev/null || fail "posd.exe version"; ok
port=$(free_port)
token=wine-test-token-0123456789abcdef
cat >"$c/posd/run.toml" <<EOF
data_dir = 'C:\posd-data'
till_id = "till-wine"
[api]
listen = "127.0.0.1:$port"
token = "$token"
[payflow]
poll_interval = "200ms"
pay_timeout = "5s"
[gateways.demo]
type = "demo"
delay = "0.2s"
EOF
printf 'data_dir = 3\n' >"$c/posd/bad.toml"
w "$exe" config check --config 'C:\posd\run.toml' | grep 'ok' >/dev/null || fail "config check of a good file"; ok
set +e
w "$exe" config check --config 'C:\posd\bad.toml' >/dev/null; code=${PIPESTATUS[0]}
set -e
[ "$code" = 2 ] || fail "config check of a bad file exited $code, not 2"; ok
w "$exe" devices | grep "COM3" >/dev/null || fail "posd devices gives no Windows advice"; ok
w "$exe" devices | grep "udev" >/dev/null && fail "posd devices gives Linux advice on Windows"; ok

wine "$exe" run --config 'C:\posd\run.toml' >"$work/run.log" 2>&1 &
runpid=$!
base="http://127.0.0.1:$port"
wait_health "$base" || fail "posd.exe run: the API never answered"; ok
auth=(-H "Authorization: Bearer $token")
http "${auth[@]}" -d '{"order_id":"W1","amount":1250,"auth_code":"134567890123456789"}' "$base/v1/payments" >/dev/null
[ "$(settled "$base" "$token" W1)" = paid ] || fail "a demo payment was not paid"; ok
pid=$(http "${auth[@]}" -d '{"order_id":"W2","amount":800}' "$base/v1/payments" | id_of)
[ -n "$pid" ] || fail "no payment awaiting a scan"; ok
http "${auth[@]}" -d '{"code":"284567890123456789"}' "$base/v1/scans" | grep '"paying"' >/dev/null || fail "the scan was not taken"; ok
[ "$(settled "$base" "$token" W2)" = paid ] || fail "the scanned payment was not paid"; ok
http "${auth[@]}" -d '{"refund_id":"R1","amount":300}' "$base/v1/payments/$pid/refunds" | grep '"refund_id":"R1"' >/dev/null || fail "refund refused"; ok
for _ in $(seq 1 50); do
  http "${auth[@]}" "$base/v1/payments/$pid" | grep '"state":"refunded"' >/dev/null && break
  sleep 0.2
done
http "${auth[@]}" "$base/v1/payments/$pid" | grep '"state":"refunded"' >/dev/null || fail "the refund did not complete"; ok
for _ in $(seq 1 50); do compgen -G "$c/posd-data/receipts/*/payment_$pid.bin" >/dev/null && break; sleep 0.2; done
compgen -G "$c/posd-data/receipts/*/payment_$pid.bin" >/dev/null || fail "no receipt file in C:\\posd-data\\receipts\\<day>"; ok
posdpid=$(pgrep -f 'posd\.exe run --config C:.posd.run\.toml' | head -1)
[ -n "$posdpid" ] || fail "cannot find the posd.exe process"
kill -INT "$posdpid"
for _ in $(seq 1 100); do kill -0 "$runpid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$runpid" 2>/dev/null || fail "posd.exe did not stop on Ctrl-C"; ok
runpid=""
grep -q "shutting down" "$work/run.log" || fail "posd.exe did not shut down gracefully"; ok

echo "== the service"
svcconf="$c/ProgramData/posd/posd.toml"
w "$exe" service install | grep "installed" >/dev/null || fail "service install"; ok
grep -q "^data_dir = 'C:\\\\ProgramData\\\\posd'" "$svcconf" || fail "the service's configuration is not the Windows one: $(grep data_dir "$svcconf")"; ok
grep -q "/var/lib/posd" "$svcconf" && fail "the service's configuration has Linux paths"; ok
w reg query 'HKLM\System\CurrentControlSet\Services\posd' /v ImagePath | grep 'run --config' >/dev/null || fail "no service registered"; ok
sport=$(free_port)
sed -i "s/^listen = \"127.0.0.1:8421\"/listen = \"127.0.0.1:$sport\"/" "$svcconf"
w "$exe" service start >/dev/null || fail "service start"; ok
w "$exe" service status | grep running >/dev/null || fail "service status is not running"; ok
w sc query posd | grep RUNNING >/dev/null || fail "sc query: not RUNNING"; ok
sbase="http://127.0.0.1:$sport"
wait_health "$sbase" || fail "the service's API never answered"; ok
stoken=$(tr -d '\r\n' <"$c/ProgramData/posd/api-token")
http -H "Authorization: Bearer $stoken" -d '{"order_id":"S1","amount":100,"auth_code":"134567890123456789"}' "$sbase/v1/payments" >/dev/null
[ "$(settled "$sbase" "$stoken" S1)" = paid ] || fail "a payment through the service was not paid"; ok
grep -q 'ReportEventW.*posd ready' "$work/services.log" || fail "the service's log did not reach the Event Log API"; ok
w net stop posd | grep -i "stopped" >/dev/null || fail "net stop"; ok
w sc query posd | grep STOPPED >/dev/null || fail "sc query after net stop: not STOPPED"; ok
w net start posd | grep -i "started" >/dev/null || fail "net start"; ok
wait_health "$sbase" || fail "the service's API never answered after net start"; ok
w "$exe" service stop >/dev/null
w "$exe" service uninstall | grep "uninstalled" >/dev/null || fail "service uninstall"; ok
w sc query posd | grep RUNNING >/dev/null && fail "the service is still there"; ok
[ -f "$svcconf" ] && [ -f "$c/ProgramData/posd/posd.db" ] || fail "uninstalling lost the configuration or the journal"; ok

echo "== the MSI"
winecfg -v win7 >/dev/null 2>&1
set +e
w msiexec /i 'C:\posd\posd-0.1.0.msi' /qn >/dev/null; code=${PIPESTATUS[0]}
set -e
[ "$code" != 0 ] || fail "the MSI installed on Windows 7"; ok
[ ! -f "$c/Program Files/posd/posd.exe" ] || fail "the refused MSI left posd.exe"; ok
winecfg -v win10 >/dev/null 2>&1
w msiexec /i 'C:\posd\posd-0.1.0.msi' /qn >/dev/null || fail "msiexec /i"; ok
[ -f "$c/Program Files/posd/posd.exe" ] || fail "the MSI did not install posd.exe"; ok
for _ in $(seq 1 50); do w sc query posd | grep RUNNING >/dev/null && break; sleep 0.2; done
w sc query posd | grep RUNNING >/dev/null || fail "the MSI's service is not running"; ok
wait_health "$sbase" || fail "the MSI's service never answered (it keeps the kept configuration)"; ok
imagepath=$(w reg query 'HKLM\System\CurrentControlSet\Services\posd' /v ImagePath | grep ImagePath)
grep -q '"C:\\Program Files\\posd\\posd.exe" run' <<<"$imagepath" || fail "ImagePath not quoted (CWE-428): $imagepath"; ok
http -H "Authorization: Bearer $stoken" -d '{"order_id":"M1","amount":100,"auth_code":"134567890123456789"}' "$sbase/v1/payments" >/dev/null
[ "$(settled "$sbase" "$stoken" M1)" = paid ] || fail "a payment through the MSI's service was not paid"; ok
# An upgrade replaces the product: one posd installed, still running.
mkdir -p "$work/msi2"
cp "$dist/posd.exe" "$work/msi2/"
(cd "$work" && wixl --arch x64 -D Version=0.2.0 -D SourceDir=msi2 -o "$c/posd/posd-0.2.0.msi" "$here/posd.wxs")
w msiexec /i 'C:\posd\posd-0.2.0.msi' /qn >/dev/null || fail "msiexec /i of the upgrade"; ok
w reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s > "$work/uninstall.log" || true
n=$(grep -c "DisplayName.*REG_SZ.*posd" "$work/uninstall.log" || true)
[ "$n" = 1 ] || fail "after an upgrade $n posd products are installed, not 1"; ok
for _ in $(seq 1 50); do w sc query posd | grep RUNNING >/dev/null && break; sleep 0.2; done
w sc query posd | grep RUNNING >/dev/null || fail "the upgraded service is not running"; ok
w msiexec /x 'C:\posd\posd-0.2.0.msi' /qn >/dev/null || fail "msiexec /x"; ok
w sc query posd | grep RUNNING >/dev/null && fail "the service survived the uninstall"; ok
[ ! -f "$c/Program Files/posd/posd.exe" ] || fail "msiexec /x left posd.exe"; ok
[ -f "$svcconf" ] && [ -f "$c/ProgramData/posd/posd.db" ] || fail "msiexec /x lost the configuration or the journal"; ok

echo "$pass passed, 0 failed"
