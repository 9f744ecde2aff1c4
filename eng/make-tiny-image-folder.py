#!/usr/bin/env python3
"""Writes a tiny image folder for trying `distill`: <root>/train/<class>/*.png and <root>/test/<class>/*.png.

Three classes (red, green, blue), each image a noisy square of its class's colour, so that a model can
learn them in an epoch or two. Python's standard library only (a minimal PNG writer); seeded.

    python3 eng/make-tiny-image-folder.py /tmp/tiny --per-class 16 --size 64
"""
import argparse
import random
import struct
import zlib
from pathlib import Path

COLOURS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}


def png(path: Path, size: int, colour, rng: random.Random) -> None:
    rows = bytearray()
    for _ in range(size):
        rows.append(0)  # filter type: none
        for _ in range(size):
            rows.extend(max(0, min(255, int(c + rng.gauss(0, 30)))) for c in colour)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--per-class", type=int, default=16, help="training images per class (the test set gets half as many)")
    parser.add_argument("--size", type=int, default=32, help="side of the square images in pixels")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for split, count in (("train", args.per_class), ("test", max(2, args.per_class // 2))):
        for name, colour in COLOURS.items():
            folder = args.root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                png(folder / f"{i:04d}.png", args.size, colour, rng)
    print(f"Wrote {args.root}: {args.per_class} training and {max(2, args.per_class // 2)} test images per class, {args.size}x{args.size}.")


if __name__ == "__main__":
    main()
