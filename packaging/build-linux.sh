#!/usr/bin/env bash
# Build the Linux application: dist/streamer-inspector/ (a folder that runs without Python),
# dist/streamer-inspector-<version>-linux-<arch>.tar.gz, and the desktop integration files.
#
#   packaging/build-linux.sh            # build
#   dist/streamer-inspector/install.sh  # install for the current user (menu entry, icon)
#
# PyInstaller (not pyside6-deploy/Nuitka): it builds in about a minute instead of compiling the
# whole application to C, and its PySide6 hooks are maintained with Qt for Python.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
APP_ID=io.github.streamer_inspector.StreamerInspector
VERSION=$(uv run --quiet python -c 'import app; print(app.__version__)')
ARCH=$(uname -m)

start=$(date +%s)
uv run --quiet --with 'pyinstaller>=6.10,<7' pyinstaller --noconfirm --clean \
    --distpath dist --workpath build/pyinstaller packaging/streamer-inspector.spec

out=dist/streamer-inspector
mkdir -p "$out/share/applications" "$out/share/metainfo"
cp "packaging/$APP_ID.desktop" "$out/share/applications/"
cp "packaging/$APP_ID.metainfo.xml" "$out/share/metainfo/"
for size in 16 24 32 48 64 128 256 512; do
  mkdir -p "$out/share/icons/hicolor/${size}x${size}/apps"
  cp "resources/icons/streamer-inspector-$size.png" \
     "$out/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
mkdir -p "$out/share/icons/hicolor/scalable/apps"
cp resources/icons/streamer-inspector.svg "$out/share/icons/hicolor/scalable/apps/$APP_ID.svg"
cp packaging/install.sh "$out/install.sh"
chmod +x "$out/install.sh"

tar -C dist -czf "dist/streamer-inspector-$VERSION-linux-$ARCH.tar.gz" streamer-inspector
end=$(date +%s)
echo "built $out in $((end - start)) s: $(du -sh "$out" | cut -f1) on disk," \
     "$(du -h "dist/streamer-inspector-$VERSION-linux-$ARCH.tar.gz" | cut -f1) as tar.gz"
