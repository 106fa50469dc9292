#!/bin/sh
# Makes the test payloads of kernel/src/decompress/ from input.bin, with the real tools
# and the flags of the kernel's scripts/Makefile.lib (cmd_*_with_size) and scripts/xz_wrap.sh,
# each followed by the 4-byte little-endian decompressed size as size_append writes it.
#
#   python3 gen_input.py > input.bin   # sha256 in input.bin.sha256
#   sh make.sh
#
# Made with gzip 1.12, bzip2 1.0.8, xz/lzma (XZ Utils) 5.4.1, lzop 1.04 (LZO 2.10),
# lz4 1.9.4, zstd 1.5.4 (Debian 12).
set -eu
cd "$(dirname "$0")"
sha256sum -c input.bin.sha256

size_append() {
	# The size as 4 bytes, little-endian (scripts/Makefile.lib's size_append).
	printf '%08x\n' "$(wc -c <input.bin)" | sed 's/\(..\)/\1 /g' | {
		read -r ch0 ch1 ch2 ch3
		for ch in $ch3 $ch2 $ch1 $ch0; do
			printf "\\$(printf '%03o' $((0x$ch)))"
		done
	}
}

{ gzip -n -f -9 <input.bin; size_append; } >input.bin.gz
{ bzip2 -9 <input.bin; size_append; } >input.bin.bz2
{ lzma -9 <input.bin; size_append; } >input.bin.lzma
# xz_wrap.sh up to 6.11, SRCARCH=x86.
{ xz --check=crc32 --x86 --lzma2=,dict=32MiB <input.bin; size_append; } >input.bin.xz
# xz_wrap.sh from 6.12 on.
{ xz --check=crc32 --threads=1 --x86 --lzma2=,dict=128MiB <input.bin; size_append; } >input.bin.xz-128m
{ lzop -9 <input.bin; size_append; } >input.bin.lzo
# cmd_lz4 (`lz4 -l -9 - -`; `-l -$(CONFIG_LZ4_LEVEL)` from 6.15 on, so also the fast level 1).
{ lz4 -l -9 - - <input.bin; size_append; } >input.bin.lz4
{ lz4 -l -1 - - <input.bin; size_append; } >input.bin.lz4-1
{ zstd -q -22 --ultra <input.bin; size_append; } >input.bin.zst
ls -l input.bin.*

# The seeds of the `decompress` fuzz target: the same commands on 512 bytes of input.bin's x86
# code, small so that the fuzzer explores the framing rather than long streams.
seeds=../../../../fuzz/seeds/decompress
mkdir -p "$seeds"
small=$(mktemp)
trap 'rm -f "$small"' EXIT
dd if=input.bin of="$small" bs=512 skip=8 count=1 status=none
{ gzip -n -f -9 <"$small"; printf '\000\002\000\000'; } >"$seeds/gzip"
{ bzip2 -9 <"$small"; printf '\000\002\000\000'; } >"$seeds/bzip2"
{ lzma -9 <"$small"; printf '\000\002\000\000'; } >"$seeds/lzma"
{ xz --check=crc32 --x86 --lzma2=,dict=32MiB <"$small"; printf '\000\002\000\000'; } >"$seeds/xz"
{ lzop -9 <"$small"; printf '\000\002\000\000'; } >"$seeds/lzo"
{ lz4 -l -9 - - <"$small"; printf '\000\002\000\000'; } >"$seeds/lz4"
{ zstd -q -22 --ultra <"$small"; printf '\000\002\000\000'; } >"$seeds/zstd"
ls -l "$seeds"
