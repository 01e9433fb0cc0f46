#!/usr/bin/env bash
# Install this build for the current user: ~/.local/opt/streamer-inspector, a launcher on the
# PATH (~/.local/bin/streamer-inspector), the menu entry, the icons and the AppStream metadata.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
APP_ID=io.github.streamer_inspector.StreamerInspector
prefix=${PREFIX:-$HOME/.local}
mkdir -p "$prefix/opt" "$prefix/bin"
rm -rf "$prefix/opt/streamer-inspector"
cp -a "$here" "$prefix/opt/streamer-inspector"
ln -sf "$prefix/opt/streamer-inspector/streamer-inspector" "$prefix/bin/streamer-inspector"
cp -a "$here/share/." "$prefix/share/"
sed -i "s|^Exec=.*|Exec=$prefix/bin/streamer-inspector|" \
    "$prefix/share/applications/$APP_ID.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$prefix/share/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q "$prefix/share/icons/hicolor" || true
echo "installed: $prefix/bin/streamer-inspector (and a menu entry)"
