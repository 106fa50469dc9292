#!/usr/bin/env python3
"""Writes input.bin: a deterministic, ELF-like stand-in for a vmlinux.bin (~192 KiB).

An ELF64 header, then synthetic x86-64 text (functions with prologues, `call rel32` and
`jmp rel32` to one another, so xz's x86 BCJ filter really converts branch targets), then
printk-like strings, then zeroes (like .bss padding). Synthetic rather than a chunk of a real
binary, so the test data carries no third-party licence.
"""
import random
import struct
import sys

rng = random.Random(0x9D6B)
out = bytearray()

# ELF64 header: x86-64 executable.
out += b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
out += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0xFFFFFFFF81000000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
# One PT_LOAD program header.
out += struct.pack("<IIQQQQQQ", 1, 5, 0x1000, 0xFFFFFFFF81000000, 0x1000000, 0x30000, 0x30000, 0x200000)
out += b"\xcc" * (0x1000 - len(out) % 0x1000)

TEXT = 128 * 1024
text_start = len(out)
starts = []
body = [
    b"\x48\x89\xc7",  # mov rdi, rax
    b"\x48\x83\xc4\x08",  # add rsp, 8
    b"\x31\xc0",  # xor eax, eax
    b"\x48\x8b\x45\xf8",  # mov rax, [rbp-8]
    b"\x85\xc0",  # test eax, eax
    b"\x0f\x1f\x44\x00\x00",  # nop dword [rax+rax]
    b"\x41\x54",  # push r12
    b"\x41\x5c",  # pop r12
    b"\x48\xc7\xc0" + struct.pack("<I", 0x2A),  # mov rax, 42
]
while len(out) - text_start < TEXT - 256:
    starts.append(len(out))
    out += b"\xf3\x0f\x1e\xfa\x55\x48\x89\xe5"  # endbr64; push rbp; mov rbp, rsp
    for _ in range(rng.randrange(4, 24)):
        r = rng.random()
        if r < 0.3 and len(starts) > 1:
            # call an earlier function (negative rel32: high byte 0xff)
            target = rng.choice(starts)
            out += b"\xe8" + struct.pack("<i", target - (len(out) + 5))
        elif r < 0.4:
            # call forward (positive rel32: high byte 0x00)
            out += b"\xe8" + struct.pack("<i", rng.randrange(0x100, 0x8000))
        elif r < 0.45:
            out += b"\xe9" + struct.pack("<i", rng.randrange(-0x4000, 0x4000))
        else:
            out += rng.choice(body)
    out += b"\x5d\xc3"  # pop rbp; ret
    out += b"\xcc" * ((-len(out)) % 16)
out += b"\xcc" * (text_start + TEXT - len(out))

words = b"cpu memory irq device driver failed enabled kernel page table node zone".split()
out += b"Linux version 6.99.0-qmdb-test (qmdb@example) #1 SMP PREEMPT_DYNAMIC\n\0"
while len(out) < text_start + TEXT + 48 * 1024:
    line = b" ".join(rng.choice(words) for _ in range(rng.randrange(2, 9)))
    out += b"\x01" + bytes([ord("0") + rng.randrange(8)]) + line + b": %d %s %pS\n\0"
out += bytes(192 * 1024 - len(out))

sys.stdout.buffer.write(bytes(out))
