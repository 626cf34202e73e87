#!/usr/bin/env python3
"""One summary JSON from the pieces of GPU runs: lmprobe's (bench/run.mjs --out) and PyTorch's
(bench/torch_baseline.py) results, with lmprobe/PyTorch ratios for every case, float32 (the target) and bf16, and
for the load time where PyTorch timed a from_pretrained. The first --torch file that has a case gives its baseline,
so list the one measured in the same call first. --extra NAME=FILE adds a JSON document (the last JSON line of
FILE) under NAME. Works on the device machine and here, on the files a device call brought back.

  python3 bench/gpu/merge.py --out small.json --torch torch.json --lmprobe lmprobe-packed1.json --lmprobe lmprobe-packed0.json
"""
import argparse
import json
import os


def read_json(path):
    text = open(path).read().strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # a log: its last JSON line
        lines = [l for l in text.splitlines() if l.startswith("{") or l.startswith("[")]
        if not lines:
            raise SystemExit(f"merge: no JSON in {path}")
        return json.loads(lines[-1])


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def with_ratios(case, baselines):
    out = {k: v for k, v in case.items() if not (k.startswith("torch") or "_ratio" in k or k.startswith("load_ratio"))}
    for dtype, suffix in (("torch.float32", ""), ("torch.bfloat16", "_bf16")):
        ref = baselines.get((case.get("model"), case.get("T"), dtype))
        if not ref or "forward_ms" not in case:
            continue
        out[f"torch{suffix}_forward_ms"] = ref["forward"]
        out[f"torch{suffix}_probe_ms"] = ref["probe"]
        out[f"forward_ratio{suffix}"] = ratio(case["forward_ms"], ref["forward"])
        out[f"probe_ratio{suffix}"] = ratio(case["probe_ms"], ref["probe"])
        # Early passes (right after the warm-ups, before each engine's steady time), where both runs timed them.
        if ref.get("forward_early") and case.get("forward_early_ms"):
            out[f"torch{suffix}_forward_early_ms"] = ref["forward_early"]
            out[f"torch{suffix}_probe_early_ms"] = ref["probe_early"]
            out[f"forward_early_ratio{suffix}"] = ratio(case["forward_early_ms"], ref["forward_early"])
            out[f"probe_early_ratio{suffix}"] = ratio(case["probe_early_ms"], ref["probe_early"])
        if ref.get("load_ms"):
            out[f"torch{suffix}_load_ms"] = ref["load_ms"]
            out[f"load_ratio{suffix}"] = ratio(case.get("load_ms"), ref["load_ms"])
        if ref.get("probe_peak_gpu_bytes"):
            out[f"torch{suffix}_probe_peak_gpu_bytes"] = ref["probe_peak_gpu_bytes"]
        out[f"torch{suffix}_gpu"] = ref.get("gpu")
        out[f"torch{suffix}_from"] = ref["_from"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--torch", action="append", default=[])
    ap.add_argument("--lmprobe", action="append", default=[])
    ap.add_argument("--extra", action="append", default=[], help="NAME=FILE")
    ap.add_argument("--gpu", default="", help="the GPU's name (nvidia-smi), quoted beside every figure")
    args = ap.parse_args()
    baselines, torch_rows, doc_notes = {}, [], []
    for path in args.torch:
        try:
            rows = read_json(path)
        except (OSError, SystemExit, ValueError) as err:
            doc_notes.append(f"no PyTorch rows from {path}: {err}")
            continue
        for row in rows:
            row = {**row, "_from": os.path.basename(path)}
            torch_rows.append(row)
            baselines.setdefault((row["model"], row["T"], row["dtype"]), row)
    doc = {"gpu": args.gpu, "notes": doc_notes, "cases": [], "lmprobe_runs": [], "torch": torch_rows}
    for path in args.lmprobe:
        try:
            run = read_json(path)
        except (OSError, SystemExit, ValueError) as err:
            doc["lmprobe_runs"].append({"file": os.path.basename(path), "unreadable": str(err)})
            continue
        meta = {k: v for k, v in run.items() if k != "results" and k != "kernels"}
        doc["lmprobe_runs"].append({"file": os.path.basename(path), **meta})
        for case in run.get("results", []):
            doc["cases"].append({"lmprobe_file": os.path.basename(path), "packed_weights": run.get("packed_weights"), "device": run.get("device"), **with_ratios(case, baselines)})
    for item in args.extra:
        name, path = item.split("=", 1)
        doc[name] = read_json(path) if os.path.exists(path) else {"missing": path}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    # The headline, one line per case, for the call's output.
    for c in doc["cases"]:
        keys = ("model", "T", "lmprobe_file", "packed_weights", "load_ms", "forward_ms", "probe_ms", "forward_ratio", "probe_ratio",
                "forward_ratio_bf16", "probe_ratio_bf16", "forward_early_ratio", "probe_early_ratio", "load_ratio", "load_ratio_bf16", "skipped", "error")
        print(json.dumps({k: c[k] for k in keys if k in c})[:600])


if __name__ == "__main__":
    main()
