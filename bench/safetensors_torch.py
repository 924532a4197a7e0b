"""Reads a single-file safetensors checkpoint into float32 torch tensors by name, independently of
Rankwise's reader (the Python peers of the benches use it: forward_torch.py, svdllm_reference.py)."""
import json, os, struct
import numpy as np
import torch


def load(folder):
    out = {}
    with open(os.path.join(folder, 'model.safetensors'), 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        raw = f.read()
    for k, e in header.items():
        if k == '__metadata__':
            continue
        b = raw[e['data_offsets'][0]:e['data_offsets'][1]]
        if e['dtype'] == 'BF16':
            a = (np.frombuffer(b, '<u2').astype(np.uint32) << 16).view(np.float32)
        elif e['dtype'] == 'F16':
            a = np.frombuffer(b, '<f2').astype(np.float32)
        else:
            a = np.frombuffer(b, '<f4')
        out[k] = torch.from_numpy(a.copy()).reshape(e['shape'])
    return out
