#!/usr/bin/env python3
"""PyTorch reference timings for lmprobe's GPU benchmark, on the same randomly initialised models.

Builds GPT-2-small and Qwen2.5-0.5B from their configs (random weights, float32), optionally saves them as
Hugging Face checkpoints for bench/run.mjs to load (--save DIR: the same weights in both programs), and
times, as ../shared/perf/torch-gpu-baseline.json defines them:
  forward: one forward pass, the last position's logits copied to the host;
  probe:   the forward pass with every hidden state, the logit lens over every layer and position (final
           norm, unembedding, log-softmax, top-5 and entropy) and the flat layer-similarity matrix, all
           copied to the host.
Prints one JSON list (medians in ms) on stdout.

  python3 bench/torch_baseline.py --save bench/out/models --seq 128,1024 --reps 10
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import time

import torch
from transformers import AutoModelForCausalLM, GPT2Config, Qwen2Config

TOKENIZER_FROM = {"gpt2-small": "gpt2", "qwen2.5-0.5b": "qwen2"}


def configs():
    return {
        "gpt2-small": GPT2Config(n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab_size=50257),
        "qwen2.5-0.5b": Qwen2Config(
            hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
            intermediate_size=4864, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0,
            rms_norm_eps=1e-6, tie_word_embeddings=True,
        ),
    }


def final_norm(model):
    return model.transformer.ln_f if hasattr(model, "transformer") else model.model.norm


def probe(model, ids, k=5):
    out = model(ids, output_hidden_states=True)
    hidden = out.hidden_states  # L+1 entries; transformers already normed the last one
    norm = final_norm(model)
    head = model.get_output_embeddings()
    tops, top_ids, entropies = [], [], []
    for layer, h in enumerate(hidden):
        x = h[0] if layer == len(hidden) - 1 else norm(h[0])
        logprobs = torch.log_softmax(head(x), dim=-1)
        v, i = torch.topk(logprobs, k, dim=-1)
        entropies.append(-(logprobs.exp() * logprobs).sum(-1))
        tops.append(v)
        top_ids.append(i)
    flat = torch.stack([h[0].reshape(-1) for h in hidden])
    unit = flat / flat.norm(dim=-1, keepdim=True)
    sim = unit @ unit.T
    return [t.cpu() for t in (torch.stack(tops), torch.stack(top_ids), torch.stack(entropies), sim)]


def forward(model, ids):
    return model(ids).logits[0, -1].cpu()


def timed(fn, reps, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--save", help="directory to save each model's checkpoint in (DIR/<model>)")
    ap.add_argument("--tokenizers", default="test/fixtures/tiny", help="fixture directory whose tokenizer files travel with the checkpoints")
    ap.add_argument("--seq", default="128,1024")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--models", default="gpt2-small,qwen2.5-0.5b")
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = torch.device("cuda")
    results = []
    for name in args.models.split(","):
        cfg = configs()[name]
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32).to(dev).eval()
        if args.save:
            out = os.path.join(args.save, name)
            model.save_pretrained(out, safe_serialization=True)
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(args.tokenizers, TOKENIZER_FROM[name], f), out)
            print(f"saved {out}", file=sys.stderr)
        for T in [int(t) for t in args.seq.split(",")]:
            ids = torch.randint(0, cfg.vocab_size, (1, T), device=dev, generator=torch.Generator(device=dev).manual_seed(T))
            with torch.inference_mode():
                f = timed(lambda: forward(model, ids), args.reps)
                p = timed(lambda: probe(model, ids), args.reps)
            results.append({"model": name, "dtype": "torch.float32", "T": T, "forward": round(f, 3), "probe": round(p, 3),
                            "gpu": torch.cuda.get_device_name(0), "attn": model.config._attn_implementation})
            print(json.dumps(results[-1]), file=sys.stderr)
        del model
        torch.cuda.empty_cache()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
