#!/usr/bin/env python3
"""Writes tests/data/image_resample/pillow_resize.safetensors: a pseudo-random RGB image
and Pillow's Image.resize of it with the bilinear, bicubic and Lanczos filters to sizes
below, above and across the input's, for tests/models/test_image_resample.c.

Test tooling only (Pillow from PyPI, in a throwaway venv):
    python3 -m venv /tmp/pilvenv && /tmp/pilvenv/bin/pip install pillow
    /tmp/pilvenv/bin/python tests/models/make_resample_fixtures.py
"""
import json
import os
import struct
import sys

from PIL import Image

H, W = 19, 29
SIZES = [(7, 11), (13, 5), (41, 33), (25, 12), (19, 60), (1, 3)]   # (height, width)
FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
           "lanczos": Image.Resampling.LANCZOS}


def main():
    seed = 12345
    data = bytearray()
    for _ in range(H * W * 3):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        data.append((seed >> 16) & 0xFF)
    img = Image.frombytes("RGB", (W, H), bytes(data))
    tensors = {"in": ([H, W, 3], bytes(data))}
    for name, f in FILTERS.items():
        for h, w in SIZES:
            out = img.resize((w, h), resample=f)
            tensors[f"{name}.{h}x{w}"] = ([h, w, 3], out.tobytes())
    header, blob = {"__metadata__": {"pillow": Image.__version__}}, bytearray()
    for k, (shape, b) in tensors.items():
        header[k] = {"dtype": "U8", "shape": shape, "data_offsets": [len(blob), len(blob) + len(b)]}
        blob += b
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "image_resample")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "pillow_resize.safetensors"), "wb") as fo:
        fo.write(struct.pack("<Q", len(hj)) + hj + blob)
    print("wrote", len(tensors), "tensors with Pillow", Image.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
