#!/usr/bin/env python3
"""Writes a randomly initialised Llama-3.1-8B-shaped checkpoint as bf16 safetensors shards, the layout of
transformers' save_pretrained(max_shard_size=...): model-0000N-of-0000M.safetensors, model.safetensors.index.json
(metadata.total_size + weight_map), config.json (Llama-3.1-8B's, rope llama3 scaling), and a tokenizer copied from a
fixture (the benchmark feeds token ids; the tokenizer only has to load).

Weights are drawn tensor by tensor on the GPU (CPU without one) from one seeded generator in a fixed order, so a
fresh machine rewrites the same checkpoint; norms are ones, every matrix N(0, 0.02) as transformers'
_init_weights does. Each tensor is written as soon as it is drawn: the host holds one tensor at a time (the
embedding, 1 GiB), not a shard or the model, which is why this writes the (simple, documented) safetensors format
itself instead of building the model and calling save_pretrained. PyTorch's from_pretrained reading it back with no
missing or unexpected keys (bench/torch_baseline.py --load checks that) is the test that the layout is right.

  python3 bench/gpu/write_llama_checkpoint.py --out /tmp/lmprobe-models/llama3.1-8b [--shape 8b|tiny] [--shard-gb 5]
Prints one JSON line (bytes, shards, seconds, bytes per second) on stdout. Skips the work when DIR/.complete names
the same shape.
"""
import argparse
import json
import os
import shutil
import struct
import sys
import time

import torch

SHAPES = {
    # meta-llama/Llama-3.1-8B's config.json
    "8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=14336, vocab_size=128256, max_position_embeddings=131072,
               rope_scaling={"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"}),
    # The same structure at a size the CPU-only machines run (vocab of the tiny llama3 fixture's tokenizer).
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=160, vocab_size=512, max_position_embeddings=131072,
                 rope_scaling={"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 8192, "rope_type": "llama3"}),
}
TOKENIZER_FROM = "test/fixtures/tiny/llama3-f16-sharded"


def config_json(shape):
    s = SHAPES[shape]
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 0 if shape == "tiny" else 128000, "eos_token_id": 0 if shape == "tiny" else 128001,
        "head_dim": s["hidden_size"] // s["num_attention_heads"], "hidden_act": "silu", "initializer_range": 0.02,
        "mlp_bias": False, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "tie_word_embeddings": False, "dtype": "bfloat16", "torch_dtype": "bfloat16", "use_cache": True, **s,
    }


def tensor_specs(shape):
    """(name, shape, kind) in save_pretrained's order: the model's state_dict order."""
    s = SHAPES[shape]
    h, inter, v = s["hidden_size"], s["intermediate_size"], s["vocab_size"]
    hd = h // s["num_attention_heads"]
    q, kv = s["num_attention_heads"] * hd, s["num_key_value_heads"] * hd
    specs = [("model.embed_tokens.weight", (v, h), "normal")]
    for i in range(s["num_hidden_layers"]):
        p = f"model.layers.{i}."
        specs += [(p + "self_attn.q_proj.weight", (q, h), "normal"), (p + "self_attn.k_proj.weight", (kv, h), "normal"),
                  (p + "self_attn.v_proj.weight", (kv, h), "normal"), (p + "self_attn.o_proj.weight", (h, q), "normal"),
                  (p + "mlp.gate_proj.weight", (inter, h), "normal"), (p + "mlp.up_proj.weight", (inter, h), "normal"),
                  (p + "mlp.down_proj.weight", (h, inter), "normal"),
                  (p + "input_layernorm.weight", (h,), "ones"), (p + "post_attention_layernorm.weight", (h,), "ones")]
    specs += [("model.norm.weight", (h,), "ones"), ("lm_head.weight", (v, h), "normal")]
    return specs


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def plan_shards(specs, max_bytes):
    """save_pretrained's rule: start a new shard when the next tensor would take this one past max_bytes."""
    shards, current, size = [], [], 0
    for spec in specs:
        b = numel(spec[1]) * 2
        if current and size + b > max_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(spec)
        size += b
    if current:
        shards.append(current)
    return shards


def write_shard(path, specs, draw):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shp, _ in specs:
        b = numel(shp) * 2
        header[name] = {"dtype": "BF16", "shape": list(shp), "data_offsets": [offset, offset + b]}
        offset += b
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shp, kind in specs:
            t = draw(shp, kind)
            f.write(t.view(torch.int16).cpu().numpy())  # bf16 bits (little-endian, as on every host here), no extra copy
    return offset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", default="8b", choices=sorted(SHAPES))
    ap.add_argument("--shard-gb", type=float, default=5.0, help="max_shard_size in GB (10^9 bytes), save_pretrained's default unit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer-from", default=TOKENIZER_FROM)
    args = ap.parse_args()
    stamp = f"{args.shape} seed={args.seed} shard_gb={args.shard_gb}\n"
    marker = os.path.join(args.out, ".complete")
    if os.path.exists(marker) and open(marker).read() == stamp:
        print(json.dumps({"checkpoint": args.out, "shape": args.shape, "reused": True}))
        return
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gen = torch.Generator(device=dev).manual_seed(args.seed)

    def draw(shp, kind):
        if kind == "ones":
            return torch.ones(shp, dtype=torch.bfloat16, device=dev)
        return (torch.randn(shp, generator=gen, device=dev, dtype=torch.float32) * 0.02).to(torch.bfloat16)

    t0 = time.perf_counter()
    shards = plan_shards(tensor_specs(args.shape), int(args.shard_gb * 1e9))
    weight_map, total = {}, 0
    for i, specs in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        total += write_shard(os.path.join(args.out, fname), specs, draw)
        weight_map.update({name: fname for name, _, _ in specs})
        print(f"wrote {fname}", file=sys.stderr)
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config_json(args.shape), f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(args.tokenizer_from, name), args.out)
    os.sync()
    seconds = time.perf_counter() - t0
    with open(marker, "w") as f:
        f.write(stamp)
    print(json.dumps({"checkpoint": args.out, "shape": args.shape, "reused": False, "bytes": total, "shards": len(shards),
                      "write_s": round(seconds, 2), "write_bytes_per_s": round(total / seconds), "drawn_on": str(dev)}))


if __name__ == "__main__":
    main()
