#!/usr/bin/env bash
# Builds the headless server's .deb: `switchboard` with the control UI inside its binary, a
# systemd unit that runs it as its own user, and its settings file (/etc/default/switchboard).
# `--debug` packages the debug build instead of the release one (what the tests install).
# Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
[[ "${1:-}" == "--debug" ]] && profile=debug
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

# The UI first: the engine's build puts ui/dist inside the binary.
(cd ui && npm run --silent build) >&2
if [[ $profile == release ]]; then
  cargo build --release --locked -p switchboard --bin switchboard >&2
else
  # As scripts/test.sh builds it (the same features across the workspace), so the tests'
  # binary is reused rather than built again with other features.
  cargo build --workspace --all-targets --locked >&2
fi
bin="$target/$profile/switchboard"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"

install -D -m 0755 "$bin" "$root/usr/bin/switchboard"
# As Debian ships binaries: without symbols (a fifth smaller).
[[ $profile == release ]] && strip --strip-unneeded "$root/usr/bin/switchboard"
install -D -m 0644 packaging/server/switchboard.service "$root/lib/systemd/system/switchboard.service"
install -D -m 0600 packaging/server/default "$root/etc/default/switchboard"
install -D -m 0644 docs/SERVER.md "$root/usr/share/doc/switchboard-server/README.server.md"
install -d "$root/DEBIAN"
install -m 0755 packaging/server/postinst packaging/server/prerm packaging/server/postrm "$root/DEBIAN/"
echo /etc/default/switchboard >"$root/DEBIAN/conffiles"

# The shared libraries the binary links, as Debian names them.
mkdir -p "$work/shlibs/debian" && touch "$work/shlibs/debian/control"
depends=$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$root/usr/bin/switchboard" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
cat >"$root/DEBIAN/control" <<CONTROL
Package: switchboard-server
Version: $version
Architecture: $arch
Maintainer: Switchboard <switchboard@localhost>
Section: net
Priority: optional
Depends: $depends, adduser
Installed-Size: $(du -ks "$root/usr" | cut -f1)
Description: Switchboard engine as a headless server
 AI agents on your phone numbers: the carriers' webhooks and media, outbound
 campaigns and the control API and UI, run by systemd as its own user.
CONTROL

out="$target/$profile/bundle/server"
mkdir -p "$out"
deb="$out/switchboard-server_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >&2
echo "$deb"
