#!/usr/bin/env bash
# bench/aead-bench.sh — the AEAD candidates for sealing braidfs frames:
# libgcrypt AES-256-OCB (braidfs protocol 3) and AES-256-GCM, OpenSSL EVP
# AES-256-GCM (protocol 2) and AES-256-OCB, libsodium AES-256-GCM (when the
# CPU has AES-NI), ChaCha20-Poly1305-IETF and XChaCha20-Poly1305-IETF,
# sealing and opening 256 KiB and 4 KiB bodies on one core.
#
# usage: bench/aead-bench.sh [BUILD_DIR] [SECONDS per cell, default 1]
#   BUILD_DIR   meson build directory holding bench/aead-bench (default
#               ./build); nothing is built here
# See bench/aead-bench.c for what each cell does; results in README.md.
set -euo pipefail
BUILD=${1:-./build}
SECS=${2:-1}
bin=$BUILD/bench/aead-bench
[[ -x $bin ]] || { echo "aead-bench: no $bin (meson compile -C $BUILD first)" >&2; exit 2; }
echo "# cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
	"($(grep -o -w -E 'aes|vaes|vpclmulqdq|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' '))"
echo "# openssl $(openssl version 2>/dev/null | awk '{ print $2 }' || echo '?'), libgcrypt $(pkg-config --modversion libgcrypt 2>/dev/null || echo '?'), libsodium $(pkg-config --modversion libsodium 2>/dev/null || echo '?')"
exec "$bin" "$SECS"
