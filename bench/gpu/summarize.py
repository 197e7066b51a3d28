#!/usr/bin/env python3
"""The one JSON object bench/gpu/run.sh prints: headline figures first, then every run's own line.

   summarize.py RESULTS_DIR --mode gpu|rehearsal --arch A --jobs N --gpu NAME --commit C --total-s S

Reads RESULTS_DIR/steps.tsv (name, status, exit code, seconds, limit) and each step's NAME.out
(gpu_bench prints one JSON object a line). A missing figure is null, and the step says why.
"""
import argparse
import json
import os


def lines(results, name):
    path = os.path.join(results, name + ".out")
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                out.append(json.loads(line))
    return out


def tail(results, name, n=3):
    path = os.path.join(results, name + ".out")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return [l.rstrip() for l in f.readlines()[-n:]]


def last_line(results, name):
    for ext in (".log", ".out"):
        path = os.path.join(results, name + ext)
        if os.path.exists(path):
            with open(path) as f:
                text = [l.strip() for l in f if l.strip()]
            if text:
                return text[-1]
    return None


def steps(results):
    out = {}
    with open(os.path.join(results, "steps.tsv")) as f:
        for row in f:
            name, status, rc, secs, limit = row.rstrip("\n").split("\t")
            out[name] = {"status": status, "rc": int(rc), "seconds": int(secs), "limit_s": int(limit)}
            if status != "ok":
                out[name]["last_line"] = last_line(results, name)
    return out


def by_batch(runs, key):
    return {str(r["batch"]): r.get(key) for r in runs} or None


def first(runs, key):
    return runs[0].get(key) if runs else None


def peak(runs):
    values = [r["device_used_peak_bytes"] for r in runs if r.get("device_used_peak_bytes") is not None]
    return max(values) if values else None


def smi_peak(results):
    path = os.path.join(results, "nvidia-smi.csv")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        values = [int(l) for l in f if l.strip().isdigit()]
    return max(values) if values else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    for opt in ("--mode", "--arch", "--jobs", "--gpu", "--commit", "--total-s"):
        ap.add_argument(opt, required=True)
    a = ap.parse_args()
    st = steps(a.results)
    psnr = (lines(a.results, "psnr") or [None])[0]
    sd15, sdxl = lines(a.results, "sd15"), lines(a.results, "sdxl")
    b1 = [r for r in sd15 if r["batch"] == 1]
    failed = [n for n, s in st.items() if s["status"] != "ok"]
    summary = {
        "mode": a.mode,
        "pass": not failed and bool(psnr and psnr["pass"]),
        "failed_steps": failed,
        "gpu": a.gpu,
        "cuda_arch": a.arch,
        "commit": a.commit,
        "build_jobs": int(a.jobs),
        "total_s": int(a.total_s),
        "device": first(sd15 or sdxl, "device"),
        "op_table": {"status": st.get("op_table", {}).get("status"), "tail": tail(a.results, "op_table")},
        "parity": {
            "what": "SD1.5 random weights, f32, euler, seed 42: GPU image vs CPU image, PSNR over RGB",
            "size": first(lines(a.results, "parity_cpu"), "size"),
            "steps": first(lines(a.results, "parity_cpu"), "steps"),
            "psnr_db": psnr and psnr["psnr_db"],
            "max_abs_diff": psnr and psnr["max_abs_diff"],
            "min_db": psnr and psnr["min_db"],
            "pass": bool(psnr and psnr["pass"]),
        },
        "sd15": {
            "size": first(sd15, "size"),
            "steps": first(sd15, "steps"),
            "compute": first(sd15, "compute"),
            "it_per_s": first(b1, "it_per_s"),
            "vae_decode_ms": first(b1, "decode_ms"),
            "vae_decode_tiles": first(b1, "decode_tiles"),
            "images_per_s": by_batch(sd15, "images_per_s"),
            "it_per_s_by_batch": by_batch(sd15, "it_per_s"),
            "device_used_peak_bytes": peak(sd15),
        },
        "sdxl": {
            "size": first(sdxl, "size"),
            "steps": first(sdxl, "steps"),
            "compute": first(sdxl, "compute"),
            "it_per_s": first(sdxl, "it_per_s"),
            "vae_decode_ms": first(sdxl, "decode_ms"),
            "vae_decode_tiles": first(sdxl, "decode_tiles"),
            "device_used_peak_bytes": peak(sdxl),
        },
        "peak_device_memory_note": "device-wide used bytes (CUDA context included), sampled every 25 ms during "
        "each generation; null without CUDA (emulated and cpu report peak_rss_bytes per run instead). "
        "nvidia_smi_used_peak_mib: the same from nvidia-smi every 100 ms over all GPU runs, as a cross-check",
        "nvidia_smi_used_peak_mib": smi_peak(a.results),
        "images_per_s_note": "from gpu_bench (the C++ API) directly: the HTTP server needs Node, which the device "
        "machine lacks, so no server figure is measured here",
        "checkpoints": lines(a.results, "checkpoint_sd1") + lines(a.results, "checkpoint_sdxl"),
        "steps": st,
        "runs": {name: lines(a.results, name) for name in ("parity_gpu", "parity_cpu", "sd15", "sdxl")},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
