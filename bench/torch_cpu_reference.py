#!/usr/bin/env python3
"""PyTorch CPU reference for `npm run bench -- --cpu-vs-torch`: a plain forward pass and probe, as a
TransformerLens user would write them, on a model of the case's shape with random float32 weights.

  forward: one forward pass over T positions, the last position's logits.
  probe:   the forward pass keeping every residual stream (L+1 of them), then for every layer and position the
           logit lens materialised the plain way (final norm, unembedding, log-softmax over the vocabulary, top-5,
           entropy), and the flat layer-similarity matrix (cosine of the flattened residual streams).

Runs as a worker: prints {"ready": ...} (with the BLAS library it found), then answers each line on stdin
("forward", "probe", "rss", "quit") with one JSON line. Needs Debian's python3-torch and libopenblas0-pthread
(without the latter Debian's torch runs on the reference BLAS, ~10x slower). The caller unsets OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE for this process only.

  python3 bench/torch_cpu_reference.py --case gpt2-small --positions 128 --threads 2
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

SHAPES = {
    # name: (kind, layers, d_model, heads, kv_heads, head_dim, d_mlp, vocab)
    "demo": ("llama", 4, 256, 8, 4, 32, 704, 1024),
    "gpt2-small": ("gpt2", 12, 768, 12, 12, 64, 3072, 50257),
    "qwen2.5-1.5b": ("llama", 28, 1536, 12, 2, 128, 8960, 151936),
}


def blas_in_use():
    torch.randn(64, 64) @ torch.randn(64, 64)
    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line})
    return libs


class Model:
    def __init__(self, case, positions):
        kind, L, d, H, KV, dh, m, V = SHAPES[case]
        self.kind, self.L, self.d, self.H, self.KV, self.dh, self.V = kind, L, d, H, KV, dh, V
        g = torch.Generator().manual_seed(0)
        w = lambda *s: (torch.rand(*s, generator=g) - 0.5) * 0.07
        self.W_E = w(V, d)
        self.blocks = []
        for _ in range(L):
            if kind == "gpt2":
                b = dict(ln1=(torch.ones(d), torch.zeros(d)), ln2=(torch.ones(d), torch.zeros(d)), W_qkv=w(d, 3 * d), b_qkv=torch.zeros(3 * d),
                         W_O=w(d, d), b_O=torch.zeros(d), W_in=w(d, m), b_in=torch.zeros(m), W_out=w(m, d), b_out=torch.zeros(d))
            else:
                b = dict(ln1=torch.ones(d), ln2=torch.ones(d), W_Q=w(d, H * dh), W_K=w(d, KV * dh), W_V=w(d, KV * dh), W_O=w(H * dh, d),
                         W_gate=w(d, m), W_up=w(d, m), W_down=w(m, d))
                if case.startswith("qwen"):
                    b.update(b_Q=torch.zeros(H * dh), b_K=torch.zeros(KV * dh), b_V=torch.zeros(KV * dh))
            self.blocks.append(b)
        if kind == "gpt2":
            self.W_pos = w(1024, d)
            self.ln_f = (torch.ones(d), torch.zeros(d))
        else:
            self.ln_f = torch.ones(d)
            inv = 1.0 / (10000.0 ** (torch.arange(0, dh, 2).float() / dh))
            angles = torch.outer(torch.arange(positions).float(), inv)
            self.cos, self.sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
        self.mask = torch.triu(torch.full((positions, positions), float("-inf")), 1)

    def norm(self, x, p):
        if self.kind == "gpt2":
            return F.layer_norm(x, (self.d,), p[0], p[1], 1e-5)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * p

    def rotate(self, x):
        half = x.shape[-1] // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * self.cos + rot * self.sin

    def attention(self, x, b):
        T = x.shape[0]
        if self.kind == "gpt2":
            q, k, v = (x @ b["W_qkv"] + b["b_qkv"]).split(self.d, -1)
        else:
            q, k, v = x @ b["W_Q"], x @ b["W_K"], x @ b["W_V"]
            if "b_Q" in b:
                q, k, v = q + b["b_Q"], k + b["b_K"], v + b["b_V"]
        q = q.view(T, self.H, self.dh).transpose(0, 1)
        k = k.view(T, -1, self.dh).transpose(0, 1)
        v = v.view(T, -1, self.dh).transpose(0, 1)
        if self.kind != "gpt2":
            q, k = self.rotate(q), self.rotate(k)
            k = k.repeat_interleave(self.H // self.KV, 0)
            v = v.repeat_interleave(self.H // self.KV, 0)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.dh) + self.mask
        z = (scores.softmax(-1) @ v).transpose(0, 1).reshape(T, -1)
        return z @ b["W_O"] + (b["b_O"] if "b_O" in b else 0)

    def mlp(self, x, b):
        if self.kind == "gpt2":
            return F.gelu(x @ b["W_in"] + b["b_in"], approximate="tanh") @ b["W_out"] + b["b_out"]
        return (F.silu(x @ b["W_gate"]) * (x @ b["W_up"])) @ b["W_down"]

    def residuals(self, ids):
        x = self.W_E[ids]
        if self.kind == "gpt2":
            x = x + self.W_pos[: len(ids)]
        stream = [x]
        for b in self.blocks:
            x = x + self.attention(self.norm(x, b["ln1"]), b)
            x = x + self.mlp(self.norm(x, b["ln2"]), b)
            stream.append(x)
        return stream

    def unembed(self, x):
        return self.norm(x, self.ln_f) @ self.W_E.T

    @torch.inference_mode()
    def forward(self, ids):
        return self.unembed(self.residuals(ids)[-1][-1:])[0].clone()

    @torch.inference_mode()
    def probe(self, ids, k=5):
        stream = self.residuals(ids)
        tops, top_ids, entropies = [], [], []
        for h in stream:
            logprobs = torch.log_softmax(self.unembed(h), -1)
            v, i = torch.topk(logprobs, k, -1)
            entropies.append(-(logprobs.exp() * logprobs).sum(-1))
            tops.append(v)
            top_ids.append(i)
        flat = torch.stack([h.reshape(-1) for h in stream])
        unit = flat / flat.norm(dim=-1, keepdim=True)
        return torch.stack(tops), torch.stack(top_ids), torch.stack(entropies), unit @ unit.T


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, choices=sorted(SHAPES))
    ap.add_argument("--positions", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    model = Model(a.case, a.positions)
    ids = torch.tensor([1 + (i * 7919) % (model.V - 1) for i in range(a.positions)])
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_in_use()}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd in ("forward", "probe"):
            t0 = time.perf_counter()
            getattr(model, cmd)(ids)
            print(json.dumps({"ms": (time.perf_counter() - t0) * 1000}), flush=True)
        elif cmd == "rss":
            print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


if __name__ == "__main__":
    main()
