#!/usr/bin/env python3
"""PyTorch reference timings for lmprobe's GPU benchmark, on the same randomly initialised models.

Builds GPT-2-small and Qwen2.5-0.5B from their configs (random weights), optionally saves them as Hugging Face
checkpoints for bench/run.mjs to load (--save DIR [--save-dtype bfloat16]: the same weights in both programs), or
reads checkpoints with from_pretrained (--load DIR: the Llama-3.1-8B shape written by
bench/gpu/write_llama_checkpoint.py; the load is timed), and times in each of --dtypes, as
../shared/perf/torch-gpu-baseline.json defines them:
  forward: one forward pass, the last position's logits copied to the host;
  probe:   the forward pass with every hidden state, the logit lens over every layer and position (final
           norm, unembedding, log-softmax, top-5 and entropy) and the flat layer-similarity matrix, all
           copied to the host. One layer's [T, vocab] log-probs at a time (never [L+1, T, vocab]: 17 GB for the
           8B at T = 1024), in float32 whatever the model's dtype (bf16 logits upcast, as transformers' own loss
           does); the peak GPU memory of one probe is reported (probe_peak_gpu_bytes, weights included).
Prints one JSON list (medians in ms) on stdout, one line per case on stderr as it goes. forward and probe are the
steady times (reps passes after --warmup-s seconds of passes); forward_early and probe_early the reps passes
right after three warm-ups.

  python3 bench/torch_baseline.py --save bench/out/models --seq 128,1024 --reps 10 [--dtypes float32,bfloat16]
  python3 bench/torch_baseline.py --load /tmp/lmprobe-models --models llama3.1-8b --dtypes float32,bfloat16 --reps 5
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import time

import torch

TOKENIZER_FROM = {"gpt2-small": "gpt2", "qwen2.5-0.5b": "qwen2"}


def configs():
    from transformers import GPT2Config, Qwen2Config
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
        logprobs = torch.log_softmax(head(x).float(), dim=-1)
        v, i = torch.topk(logprobs, k, dim=-1)
        entropies.append(-(logprobs.exp() * logprobs).sum(-1))
        tops.append(v)
        top_ids.append(i)
    flat = torch.stack([h[0].reshape(-1) for h in hidden]).float()
    unit = flat / flat.norm(dim=-1, keepdim=True)
    sim = unit @ unit.T
    return [t.cpu() for t in (torch.stack(tops), torch.stack(top_ids), torch.stack(entropies), sim)]


def forward(model, ids):
    return model(ids).logits[0, -1].cpu()


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, reps, dev, warmup_s, warmup=3):
    """(early, steady): the median of reps passes after `warmup` warm-ups, then again once warm-up passes have
    filled warmup_s seconds in all. bench/run.mjs times lmprobe the same way, so that each engine is compared at
    its steady time (a fresh Node process takes tens of passes to reach its own) and early passes stay visible."""
    def reps_ms():
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            sync(dev)
            times.append((time.perf_counter() - t0) * 1000)
        return times
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    sync(dev)
    early = reps_ms()
    while time.perf_counter() - start < warmup_s:
        fn()
        sync(dev)
    return statistics.median(early), statistics.median(reps_ms())


def dtype_kw():
    """transformers renamed from_pretrained's torch_dtype to dtype in 4.56 (the old name warns in 5.x)."""
    import transformers
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def load_pretrained(path, dtype, dev):
    """from_pretrained onto the device, timed until the weights are there; refuses a checkpoint with missing or
    unexpected keys (a wrong layout would otherwise load as freshly initialised weights, quietly)."""
    from transformers import AutoModelForCausalLM
    kw = {dtype_kw(): dtype, "output_loading_info": True}
    t0 = time.perf_counter()
    try:
        model, info = AutoModelForCausalLM.from_pretrained(path, device_map=str(dev), **kw)
        how = f"from_pretrained(device_map={str(dev)!r})"
    except Exception as err:  # device_map needs accelerate in some versions; the host path is the fallback, said in load_how
        print(f"device_map refused ({err}); loading on the host, then .to({dev})", file=sys.stderr)
        t0 = time.perf_counter()
        model, info = AutoModelForCausalLM.from_pretrained(path, **kw)
        model = model.to(dev)
        how = f"from_pretrained() then .to({str(dev)!r})"
    sync(dev)
    ms = (time.perf_counter() - t0) * 1000
    bad = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    if bad:
        raise SystemExit(f"torch_baseline: {path} does not match the model's layout: {bad}")
    return model.eval(), ms, how


def models_from_config(args, dev):
    """Random weights from each config (seed 0); --save writes them as a checkpoint first."""
    from transformers import AutoModelForCausalLM
    save_dtype = getattr(torch, args.save_dtype)
    for name in args.models.split(","):
        cfg = configs().get(name)
        if cfg is None:
            raise SystemExit(f"torch_baseline: no config for {name}; checkpoints of other shapes are read with --load DIR")
        model = AutoModelForCausalLM.from_config(cfg).to(dev).eval()  # float32, torch's default dtype
        # Rounded to the saved dtype first: every dtype timed below then starts from the values in the checkpoint.
        model = model.to(save_dtype)
        if args.save:
            out = os.path.join(args.save, name)
            model.save_pretrained(out)  # safetensors (the only format in transformers 5)
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(args.tokenizers, TOKENIZER_FROM[name], f), out)
            print(f"saved {out} ({args.save_dtype})", file=sys.stderr)
        for dtype in args.dtypes.split(","):
            yield name, model.to(getattr(torch, dtype)), {}
        del model


def models_from_disk(args, dev):
    """Each model read from DIR/<name> per dtype by from_pretrained, the load timed."""
    for name in args.models.split(","):
        for dtype in args.dtypes.split(","):
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            model, ms, how = load_pretrained(os.path.join(args.load, name), getattr(torch, dtype), dev)
            yield name, model, {"load_ms": round(ms, 1), "load_how": how}
            del model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--save", help="directory to save each model's checkpoint in (DIR/<model>)")
    ap.add_argument("--save-dtype", default="float32", choices=["float32", "bfloat16"], help="dtype of the saved checkpoint (the weights are rounded to it before any timing)")
    ap.add_argument("--load", help="read DIR/<model> with from_pretrained (timed) instead of building random weights from a config")
    ap.add_argument("--tokenizers", default="test/fixtures/tiny", help="fixture directory whose tokenizer files travel with the checkpoints")
    ap.add_argument("--seq", default="128,1024")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup-s", type=float, default=3.0, help="seconds of passes before the steady reps (bench/run.mjs's rule)")
    ap.add_argument("--models", default="gpt2-small,qwen2.5-0.5b")
    ap.add_argument("--dtypes", default="float32", help="comma-separated: float32,bfloat16")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = torch.device(args.device)
    import transformers
    results = []
    source = models_from_disk if args.load else models_from_config
    with torch.inference_mode():
        for name, model, extra in source(args, dev):
            dtype = next(model.parameters()).dtype
            weights = torch.cuda.memory_allocated() if dev.type == "cuda" else None
            vocab = model.config.vocab_size
            for T in [int(t) for t in args.seq.split(",")]:
                ids = torch.randint(0, vocab, (1, T), device=dev, generator=torch.Generator(device=dev).manual_seed(T))
                f_early, f = timed(lambda: forward(model, ids), args.reps, dev, args.warmup_s)
                p_early, p = timed(lambda: probe(model, ids), args.reps, dev, args.warmup_s)
                peak = None
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                    probe(model, ids)
                    peak = torch.cuda.max_memory_allocated()
                results.append({
                    "model": name, "dtype": str(dtype), "T": T, "forward": round(f, 3), "probe": round(p, 3),
                    "forward_early": round(f_early, 3), "probe_early": round(p_early, 3), "warmup_s": args.warmup_s,
                    "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
                    "attn": model.config._attn_implementation, **extra,
                    "weights_gpu_bytes": weights, "probe_peak_gpu_bytes": peak,
                    "tf32": torch.backends.cuda.matmul.allow_tf32, "torch": torch.__version__,
                    "transformers": transformers.__version__, "reps": args.reps,
                })
                print(json.dumps(results[-1]), file=sys.stderr)
            del model
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
