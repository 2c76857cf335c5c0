#!/usr/bin/env bash
# Install posd on a till: 64-bit Raspberry Pi OS or Debian 12+ (32-bit lacks wheels for the crypto
# libraries). Run as root from a checkout of this repository:
#
#   sudo systemd/install.sh --store-name "Corner Shop"
#
# It creates the posd user (groups dialout, lp, input, plugdev; systemd-journal, so that
# `posd diag --bundle` run as posd includes the journal), a venv under /opt/posd with posd
# installed from this checkout, the systemd unit, the udev rules, /etc/posd/posd.toml (root:posd
# 0640, by `posd config init`: API token, till key in /var/lib/posd) beside the documented example,
# then enables and starts the service. Running it again upgrades posd and keeps config and keys.
#
# Options:
#   --root DIR        install into DIR instead of / (CI, image builds): users are written into
#                     DIR/etc/passwd and DIR/etc/group, nothing is enabled or started
#   --no-venv         do not build the venv (it needs the network for the pinned wheels): link the
#                     posd found by --posd-bin (default: `command -v posd`) as /opt/posd/.venv/bin/posd
#   --posd-bin PATH   the posd executable --no-venv links to
#   --store-name NAME the store's name for `posd config init` (default "My Store")
#   --python PATH     the Python 3.11+ that builds the venv (default python3)
#   --no-start        install and enable, but do not start now
set -euo pipefail

ROOT=""
VENV=1
POSD_BIN=""
STORE_NAME="My Store"
PYTHON=python3
START=1
SRC="$(cd "$(dirname "$0")/.." && pwd)"

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="${2%/}"; shift 2 ;;
        --no-venv) VENV=0; shift ;;
        --posd-bin) POSD_BIN="$2"; shift 2 ;;
        --store-name) STORE_NAME="$2"; shift 2 ;;
        --python) PYTHON="$2"; shift 2 ;;
        --no-start) START=0; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "posd install: $*"; }
die() { echo "posd install: error: $*" >&2; exit 1; }

[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || die "run as root (sudo), or give --root DIR"
if [ -z "$ROOT" ]; then
    case "$(uname -m)" in
        aarch64|x86_64) ;;
        *) die "$(uname -m): posd needs a 64-bit OS (Raspberry Pi OS 64-bit / Debian 12+)" ;;
    esac
fi
mkdir -p "$ROOT/etc" "$ROOT/opt/posd" "$ROOT/var/lib/posd" "$ROOT/etc/posd" \
    "$ROOT/etc/systemd/system" "$ROOT/etc/udev/rules.d" "$ROOT/usr/share/doc/posd"

# -- 1. user and groups --------------------------------------------------------------------------
GROUPS_WANTED="dialout lp input plugdev"
if [ -z "$ROOT" ]; then
    for g in $GROUPS_WANTED; do getent group "$g" >/dev/null || groupadd --system "$g"; done
    if ! id posd >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/posd --no-create-home --shell /usr/sbin/nologin \
            --user-group posd
    fi
    usermod -a -G "${GROUPS_WANTED// /,}" posd
    # systemd-journal: `posd diag --bundle` run as posd can read the unit's journal (logs)
    if getent group systemd-journal >/dev/null; then usermod -a -G systemd-journal posd; fi
    POSD_UID=$(id -u posd); POSD_GID=$(getent group posd | cut -d: -f3)
else
    # a temporary root has no user database to hand to useradd: write the entries ourselves,
    # with Debian's fixed ids for the device groups (base-passwd) and 999 for posd
    touch "$ROOT/etc/passwd" "$ROOT/etc/group"
    add_group() {  # name gid [members]
        grep -q "^$1:" "$ROOT/etc/group" || echo "$1:x:$2:${3:-}" >>"$ROOT/etc/group"
    }
    add_group dialout 20 posd; add_group lp 7 posd; add_group plugdev 46 posd
    add_group input 101 posd; add_group systemd-journal 990 posd; add_group posd 999
    grep -q '^posd:' "$ROOT/etc/passwd" ||
        echo "posd:x:999:999:posd till daemon:/var/lib/posd:/usr/sbin/nologin" >>"$ROOT/etc/passwd"
    POSD_UID=999; POSD_GID=999
    say "--root: wrote posd (999) and groups $GROUPS_WANTED systemd-journal into $ROOT/etc/passwd, group"
fi

# -- 2. posd in a venv under /opt/posd ------------------------------------------------------------
BIN="$ROOT/opt/posd/.venv/bin"
if [ "$VENV" = 1 ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$PYTHON is older than 3.11"
    [ -x "$BIN/python" ] || "$PYTHON" -m venv "$ROOT/opt/posd/.venv"
    "$BIN/pip" install --quiet --disable-pip-version-check --upgrade pip
    "$BIN/pip" install --quiet --disable-pip-version-check "$SRC"
    POSD="$BIN/posd"
    if [ -z "$ROOT" ]; then ln -sf /opt/posd/.venv/bin/posd /usr/local/bin/posd; fi
else
    POSD_BIN="${POSD_BIN:-$(command -v posd || true)}"
    [ -x "$POSD_BIN" ] || die "--no-venv needs an installed posd (--posd-bin PATH)"
    mkdir -p "$BIN"
    # a launcher, not a symlink: under --root an absolute link would point inside the root
    printf '#!/bin/sh\nexec %s "$@"\n' "$POSD_BIN" >"$BIN/posd"
    chmod 0755 "$BIN/posd"
    POSD="$POSD_BIN"
    say "--no-venv: /opt/posd/.venv/bin/posd runs $POSD_BIN"
fi

# -- 3. unit, udev rules, docs --------------------------------------------------------------------
install -m 0644 "$SRC/systemd/posd.service" "$ROOT/etc/systemd/system/posd.service"
install -m 0644 "$SRC/systemd/99-posd.rules" "$ROOT/etc/udev/rules.d/99-posd.rules"
install -m 0644 "$SRC/README.md" "$ROOT/usr/share/doc/posd/README.md"

# -- 4. config skeleton and the till's keys (kept when they exist) --------------------------------
CONF="$ROOT/etc/posd/posd.toml"
install -m 0644 "$SRC/config/posd.example.toml" "$ROOT/etc/posd/posd.example.toml"
if [ ! -e "$CONF" ]; then
    "$POSD" --config "$CONF" --state-dir "$ROOT/var/lib/posd" config init --store-name "$STORE_NAME"
    if [ -n "$ROOT" ]; then  # the file names the paths the till will see, not the temporary root
        sed -i "s#$ROOT/var/lib/posd#/var/lib/posd#g" "$CONF"
    fi
    {
        echo
        echo "# Every other key has a default: see /etc/posd/posd.example.toml for each one, and"
        echo "# add [[device]] entries for the scanner, printer (drawer = \"pin2\"), card reader."
        echo "# Check with: posd --config /etc/posd/posd.toml config check"
    } >>"$CONF"
else
    say "$CONF exists: kept (compare with posd.example.toml for new keys)"
fi
if [ "$(id -u)" = 0 ]; then
    chown "0:$POSD_GID" "$ROOT/etc/posd" "$CONF"
    chown -R "$POSD_UID:$POSD_GID" "$ROOT/var/lib/posd"
else
    say "not root: left file owners as they are (posd must own /var/lib/posd)"
fi
chmod 0750 "$ROOT/etc/posd"
chmod 0640 "$CONF"
chmod 0700 "$ROOT/var/lib/posd"

# -- 5. activate ------------------------------------------------------------------------------------
if [ -z "$ROOT" ]; then
    udevadm control --reload-rules && udevadm trigger --subsystem-match=tty \
        --subsystem-match=usb --subsystem-match=usbmisc --subsystem-match=input || true
    systemctl daemon-reload
    systemctl enable posd.service
    if [ "$START" = 1 ]; then systemctl restart posd.service; fi
    say "done: systemctl status posd; journalctl -u posd -f; posd --config /etc/posd/posd.toml diag"
else
    say "done: installed into $ROOT (nothing enabled or started)"
fi
