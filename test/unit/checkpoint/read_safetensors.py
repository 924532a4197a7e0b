"""Independent safetensors reader (numpy only, header parsed here) for the writer's cross-check.

Usage: /usr/bin/python3 read_safetensors.py CHECKPOINT_DIR < originals.json
stdin: {"tensor name": [float32 bit patterns of the values given to the writer]}.
Checks each file's layout (8-byte length, header padded with spaces to 8 bytes, "format": "pt",
data in header order with no gaps), re-rounds the originals to the stored dtype with numpy
(float16 by numpy's own cast; bfloat16 as the nearer of the two neighbouring bfloat16 values,
ties to the even one) and prints JSON: per tensor its dtype, shape, file, the decoded float32 bit
patterns and whether the stored bytes equal numpy's rounding; plus the list of layout problems.
"""
import json
import os
import struct
import sys

import numpy as np


def bf16_nearest(x32):
    """Round float32 to bfloat16 codes by comparing the two candidate values (not by bit tricks)."""
    bits = x32.view(np.uint32)
    down = (bits >> 16).astype(np.uint32)
    up = down + 1
    v_down = (down << 16).view(np.float32).astype(np.float64)
    up_bits = (up << 16).astype(np.uint32)
    v_up = up_bits.view(np.float32).astype(np.float64)
    # Past the largest finite value, infinity counts as 2^128 when measuring distance.
    overflow = (up & 0x7FFF) == 0x7F80
    v_up = np.where(overflow, np.sign(x32.astype(np.float64)) * 2.0**128, v_up)
    x = x32.astype(np.float64)
    d_down = np.abs(x - v_down)
    d_up = np.abs(v_up - x)
    pick_up = (d_up < d_down) | ((d_up == d_down) & (down % 2 == 1))
    codes = np.where(pick_up, up, down)
    exact = (bits & 0xFFFF) == 0
    codes = np.where(exact, down, codes)
    nan = np.isnan(x32)
    codes = np.where(nan, down | 0x40, codes)
    return codes.astype(np.uint16)


def main():
    folder = sys.argv[1]
    originals = json.load(sys.stdin)
    out = {"tensors": {}, "problems": []}
    files = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))
    for name in files:
        blob = open(os.path.join(folder, name), "rb").read()
        (hlen,) = struct.unpack("<Q", blob[:8])
        raw_header = blob[8 : 8 + hlen]
        if hlen % 8 != 0:
            out["problems"].append(f"{name}: header length {hlen} is not a multiple of 8")
        text = raw_header.decode("utf-8")
        if not text.rstrip(" ").endswith("}"):
            out["problems"].append(f"{name}: header is not a JSON object padded with spaces")
        header = json.loads(text)
        if header.get("__metadata__", {}).get("format") != "pt":
            out["problems"].append(f"{name}: __metadata__.format is not pt")
        data = blob[8 + hlen :]
        expected_start = 0
        for tname, e in header.items():
            if tname == "__metadata__":
                continue
            begin, end = e["data_offsets"]
            if begin != expected_start:
                out["problems"].append(f"{name}: {tname} starts at {begin}, expected {expected_start}")
            expected_start = end
            chunk = data[begin:end]
            dtype = e["dtype"]
            if dtype == "F32":
                values = np.frombuffer(chunk, dtype="<f4")
                stored = np.frombuffer(chunk, dtype="<u4")
            elif dtype == "F16":
                values = np.frombuffer(chunk, dtype="<f2").astype(np.float32)
                stored = np.frombuffer(chunk, dtype="<u2")
            elif dtype == "BF16":
                stored = np.frombuffer(chunk, dtype="<u2")
                values = (stored.astype(np.uint32) << 16).view(np.float32)
            else:
                raise SystemExit(f"{name}: unexpected dtype {dtype}")
            if values.size != int(np.prod(e["shape"], dtype=np.int64)):
                out["problems"].append(f"{name}: {tname} has {values.size} values for shape {e['shape']}")
            orig = np.array(originals[tname], dtype=np.uint32).view(np.float32)
            if dtype == "F32":
                want = orig.view(np.uint32)
            elif dtype == "F16":
                with np.errstate(over="ignore"):
                    want = orig.astype(np.float16).view(np.uint16)
            else:
                want = bf16_nearest(orig)
            nan = np.isnan(orig)
            same = bool(np.array_equal(stored[~nan], want[~nan]) and np.all(np.isnan(values[nan])))
            out["tensors"][tname] = {
                "file": name,
                "dtype": dtype,
                "shape": e["shape"],
                "bits": values.astype(np.float32).view(np.uint32).tolist(),
                "rounding_matches_numpy": same,
            }
        if expected_start != len(data):
            out["problems"].append(f"{name}: {len(data) - expected_start} bytes after the last tensor")
    print(json.dumps(out))


main()
