#!/usr/bin/env python3
"""Writes the PyTorch and NumPy fixtures that Aperture's IO tests load.

Run from the repository root with Debian's PyTorch and NumPy (apt-get install python3-torch python3-numpy):
    /usr/bin/python3 tests/interop/make_torch_fixture.py

The safetensors files are written from torch tensors' bytes by the small writer below (the `safetensors` package
is not needed): an 8-byte little-endian header size, the JSON header padded with spaces to a multiple of 8, then
the tensors' bytes in order. Next to each file, a JSON file records every tensor's dtype, shape and values
(tolist(); floats as Python reprs, which round-trip exactly; non-finite values as strings) so that the test
compares against values that do not pass through any safetensors reader.
"""
import json
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Aperture.Tests", "IO", "Fixtures")

DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.bool: "BOOL",
    torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32", torch.int16: "I16",
    torch.int8: "I8", torch.uint8: "U8",
}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16: reinterpret the bits
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name, t in tensors.items():
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def encode(v):
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


def save_expected(path, tensors, metadata):
    out = {"metadata": metadata, "tensors": {}}
    for name, t in tensors.items():
        t = t.detach().contiguous()
        values = t.float().flatten().tolist() if t.dtype in (torch.float16, torch.bfloat16) else t.flatten().tolist()
        out["tensors"][name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "values": [encode(v) for v in values]}
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def dtype_zoo():
    return {
        "f32": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7,
        "f32_special": torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45, 3.4028234663852886e38, -1.5], dtype=torch.float32),
        "f64": torch.arange(6, dtype=torch.float64).reshape(2, 3) / 3 - 0.5,
        "i64": torch.tensor([0, 1, -1, 2**62, -2**63, 2**63 - 1], dtype=torch.int64),
        "bool": torch.tensor([[True, False, True], [False, False, True]]),
        "f16": torch.tensor([1.0, -2.5, 65504.0, 5.960464477539063e-08, 0.1], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -3.0, 0.1, 1e38], dtype=torch.bfloat16),
        "i32": torch.tensor([-2**31, 2**31 - 1, 0], dtype=torch.int32),
        "u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "empty": torch.zeros(0, 5, dtype=torch.float32),
        "transposed": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),
    }


def checkpoint():
    """A small model and its Adam state after two steps, named as Aperture's Checkpoint stores them."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(5, 4), torch.randn(5, 2)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    names = [k for k, _ in model.named_parameters()]
    for i, state in opt.state_dict()["state"].items():
        for key, v in state.items():
            tensors[f"optimizer.{names[i]}.{key}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return tensors


def numpy_fixtures():
    d = os.path.join(OUT, "numpy")
    os.makedirs(d, exist_ok=True)
    arrays = {
        "f4": (np.arange(6, dtype="<f4").reshape(2, 3) / 7).astype("<f4"),
        "f8": np.array([[0.1, -2.5], [np.inf, -0.0]], dtype="<f8"),
        "i8": np.array([2**62, -2**63, 2**63 - 1], dtype="<i8"),
        "i4": np.array([-2**31, 2**31 - 1, 5], dtype="<i4"),
        "b1": np.array([True, False, True, True]),
        "u1": np.arange(250, 256, dtype="|u1").reshape(2, 3),
        "scalar": np.array(1.5, dtype="<f8"),
        "empty": np.zeros((0, 3), dtype="<f4"),
        "fortran": np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)),
        "bigendian": np.arange(3, dtype=">f4"),
    }
    for name, a in arrays.items():
        np.save(os.path.join(d, name + ".npy"), a)
    np.lib.format.write_array(open(os.path.join(d, "v2.npy"), "wb"), np.arange(4, dtype="<i8"), version=(2, 0))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    meta = {"producer": "tests/interop/make_torch_fixture.py", "torch": torch.__version__}
    for name, tensors in (("torch_dtypes", dtype_zoo()), ("torch_checkpoint", checkpoint())):
        save_safetensors(os.path.join(OUT, name + ".safetensors"), tensors, meta)
        save_expected(os.path.join(OUT, name + ".json"), tensors, meta)
    numpy_fixtures()
    print("wrote fixtures to", os.path.normpath(OUT))
