import struct, zlib, sys, os, random
def png(w, h, seed):
    r = random.Random(seed)
    raw = b''.join(b'\x00' + bytes(r.randrange(256) for _ in range(w*3)) for _ in range(h))
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
def header_only(w, h):
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IEND', b'')
if __name__ == '__main__':
    # mkpng.py root classes per_class size
    root, classes, per, size = sys.argv[1], sys.argv[2].split(','), int(sys.argv[3]), int(sys.argv[4])
    for c in classes:
        os.makedirs(os.path.join(root, c), exist_ok=True)
        for i in range(per):
            open(os.path.join(root, c, f'{i:04d}.png'), 'wb').write(png(size, size, hash((c, i)) & 0xffff))

def big(w, h, seed):
    # Compressible but costly to decode: a seeded row pattern repeated with a per-row shift.
    r = random.Random(seed)
    row = bytes(r.randrange(256) for _ in range(w * 3))
    raw = b''.join(b'\x00' + row[(y * 3) % len(row):] + row[:(y * 3) % len(row)] for y in range(h))
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw, 1)) + chunk(b'IEND', b'')
