#!/usr/bin/env bash
# Install the third-party SMP clients the peer tests need beyond the Python venv.
# Idempotent: a tool already present at the pinned version is left alone.
#
#   ci/install-peers.sh            # installs into cargo's default bin dir (~/.cargo/bin)
#
# The Python peers (smpmgr, smpclient, smp, imgtool, mcumgr-toolkit, mcumgr-client-wrapper)
# come from the venv that .ci/run creates.
set -euo pipefail

MCUMGRCTL_VERSION=0.20.0

have_version() { # tool version
    command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -qw "$2"
}

if have_version mcumgrctl "$MCUMGRCTL_VERSION"; then
    echo "mcumgrctl $MCUMGRCTL_VERSION already installed: $(command -v mcumgrctl)"
else
    # No default features: the `ble` feature pulls btleplug and D-Bus (libdbus-1-dev).
    cargo install "mcumgrctl@$MCUMGRCTL_VERSION" --locked --no-default-features
fi
