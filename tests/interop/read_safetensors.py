#!/usr/bin/env python3
"""Reads a safetensors file with nothing but the standard library and NumPy, and compares it with .npy dumps.

    python3 read_safetensors.py FILE.safetensors MANIFEST.json

MANIFEST.json (written by Aperture's interop test) maps each tensor name to an .npy file beside it and gives the
expected metadata: {"metadata": {...}, "tensors": {"name": "file.npy", ...}}. Exits 0 when every tensor has the
same dtype, shape and bytes as its .npy file, the header follows the format (offsets tile the buffer, data aligned
to 8 bytes) and the metadata matches; otherwise prints what differs and exits 1.
"""
import json
import os
import struct
import sys

import numpy as np

NUMPY_DTYPE = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "BOOL": "|b1"}


def main(path, manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    with open(path, "rb") as f:
        data = f.read()
    problems = []
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    buffer = data[8 + n:]
    if (8 + n) % 8 != 0:
        problems.append(f"the data starts at byte {8 + n}, not a multiple of 8")
    metadata = header.pop("__metadata__", {})
    if metadata != manifest["metadata"]:
        problems.append(f"metadata {metadata!r} != expected {manifest['metadata']!r}")
    spans = sorted((info["data_offsets"][0], info["data_offsets"][1], name) for name, info in header.items())
    end = 0
    for begin, stop, name in spans:
        if begin != end:
            problems.append(f"tensor {name!r} begins at {begin}, expected {end}")
        end = stop
    if end != len(buffer):
        problems.append(f"tensors cover {end} bytes of a {len(buffer)}-byte buffer")
    if set(header) != set(manifest["tensors"]):
        problems.append(f"tensor names {sorted(header)} != expected {sorted(manifest['tensors'])}")
    for name, npy in manifest["tensors"].items():
        if name not in header:
            continue
        info = header[name]
        begin, stop = info["data_offsets"]
        got = np.frombuffer(buffer[begin:stop], dtype=NUMPY_DTYPE[info["dtype"]]).reshape(info["shape"])
        want = np.load(os.path.join(os.path.dirname(manifest_path), npy))
        if got.dtype != want.dtype or got.shape != want.shape or got.tobytes() != want.tobytes():
            problems.append(f"{name!r}: safetensors has {got.dtype} {got.shape} {got.ravel()[:6]}, "
                            f".npy has {want.dtype} {want.shape} {want.ravel()[:6]}")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"OK: {len(header)} tensors match their .npy files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
