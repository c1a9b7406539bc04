#!/usr/bin/env bash
# Builds posd's packages from a clean clone into dist/:
#   posd_<version>_amd64.deb and posd-<version>-1.x86_64.rpm (nfpm),
#   posd.exe (cross-compiled with mingw-w64 cgo, USB HID included),
#   posd-<version>.msi (wixl, when msitools' wixl is installed).
# VERSION=1.2.3 packaging/build.sh sets the version (default 0.1.0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dist="$root/dist"
VERSION=${VERSION:-0.1.0}
NFPM=${NFPM:-go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.44.0}
mkdir -p "$dist"
cd "$root"

echo "posd $VERSION: linux binary"
CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X github.com/tillworks/posd/internal/daemon.version=$VERSION" -o "$dist/posd" ./cmd/posd

cd "$here"
for packager in deb rpm; do
  echo "posd $VERSION: $packager"
  ARCH=amd64 VERSION="$VERSION" $NFPM package --config nfpm.yaml --packager "$packager" --target "$dist/" >/dev/null
done

cd "$root"
if command -v x86_64-w64-mingw32-gcc >/dev/null; then
  echo "posd $VERSION: windows exe"
  CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc \
    go build -trimpath -ldflags "-s -w -X github.com/tillworks/posd/internal/daemon.version=$VERSION" -o "$dist/posd.exe" ./cmd/posd
  if command -v wixl >/dev/null; then
    echo "posd $VERSION: msi"
    # wixl takes Source paths relative to the current directory only.
    wixl --arch x64 -D Version="$VERSION" -D SourceDir=dist -o "$dist/posd-$VERSION.msi" packaging/windows/posd.wxs
  else
    echo "wixl not installed (apt-get install wixl): no MSI"
  fi
else
  echo "mingw-w64 not installed (apt-get install gcc-mingw-w64-x86-64): no Windows build"
fi
ls -l "$dist"
