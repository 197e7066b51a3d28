"""After training: export -> reference fixture -> evaluation -> loss plot -> model card. One command:

    nice -n 19 python3 train/finish.py [--run train/runs/small]

Writes models/sd-native-tiny.safetensors, test/fixtures/small_model_reference.safetensors (+ .json),
train/eval_results.json, models/samples.png, models/loss.png, train/run_figures.json (what the run measured) and
the model card, models/README.md and packages/tiny-model/README.md (train/model_card.md.in filled from those
figures). `--card-only` writes just the card from the committed figures.
"""
import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
import export  # noqa: E402
import make_reference  # noqa: E402


def read_losses(path):
    rows = {"vae": [], "unet": []}
    for line in open(path):
        parts = line.strip().split(",")
        if len(parts) < 4:
            continue
        vals = dict(p.split("=") for p in parts[3:])
        rows[parts[0]].append((int(parts[1]), float(parts[2]), {k: float(v) for k, v in vals.items()}))
    return rows


def plot(rows, history, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    v = rows["vae"]
    if v:
        xs = [25 * (i + 1) for i in range(len(v))]  # cumulative step axis (the stage was restarted once)
        for k in ("l1", "mse", "edge"):
            ax[0].plot(xs, [r[2][k] for r in v], label=k)
        for i in range(1, len(v)):
            if v[i][0] < v[i - 1][0]:
                ax[0].axvline(xs[i - 1], color="grey", ls=":", label="stage restart")
        ax[0].set_yscale("log")
        ax[0].set_xlabel("VAE step (cumulative)")
        ax[0].set_title("VAE reconstruction losses ([-1,1] pixel units)")
        ax[0].legend()
    u = rows["unet"]
    if u:
        ax[1].plot([r[0] for r in u], [r[2]["loss"] for r in u], label="eps MSE (20-step mean)", lw=0.8)
        k = 10
        sm = [sum(r[2]["loss"] for r in u[max(0, i - k):i + 1]) / len(u[max(0, i - k):i + 1]) for i in range(len(u))]
        ax[1].plot([r[0] for r in u], sm, label="smoothed", lw=2)
        ax[1].set_xlabel("UNet+CLIP step")
        ax[1].set_title("Diffusion loss")
        ax[1].set_ylim(0, max(0.3, min(1.0, max(r[2]["loss"] for r in u))))
        if history:
            a2 = ax[1].twinx()
            for i, name in enumerate(("colour", "shape", "position")):
                a2.plot([h["step"] for h in history], [h["acc"][i] for h in history], "o--", label=name + " acc")
            a2.set_ylim(0, 1)
            a2.legend(loc="upper right")
        ax[1].legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def fill(template, values):
    for k, v in values.items():
        template = template.replace("@@" + k + "@@", str(v))
    return template


def machine():
    """The CPU and torch this process runs on, in words."""
    name = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        name = names[0] if names else name
    return f"{name}, {os.cpu_count()} CPUs, torch {torch.__version__}"


def run_figures(final, rows, where):
    """What the run measured, for train/run_figures.json: budgets, steps, final losses, in-training checks."""
    tr, args = final["train"], final.get("args") or {}
    last_v, last_u = (rows["vae"][-1][2] if rows["vae"] else {}), rows["unet"][-5:]
    return {"machine": where, "date": time.strftime("%Y-%m-%d"),
            "budgets_min": {"vae": args.get("vae_minutes"), "unet": args.get("unet_minutes"),
                            "text_phase": args.get("text_phase_minutes", 0.0)},
            "unet_batch": args.get("unet_batch"),
            "vae_steps": tr.get("vae_steps"), "vae_minutes": round((tr.get("vae_elapsed") or 0) / 60, 1),
            "unet_steps": tr.get("unet_steps"), "unet_minutes": round((tr.get("unet_elapsed") or 0) / 60, 1),
            # the time the training processes ran (a resumed run's pauses are not counted)
            "wall_minutes": round(tr.get("wall_used", tr.get("wall_total_s", 0)) / 60, 1),
            "vae_l1": round(last_v.get("l1", float("nan")), 4), "vae_mse": round(last_v.get("mse", float("nan")), 5),
            "unet_loss": round(sum(r[2]["loss"] for r in last_u) / max(1, len(last_u)), 4),
            "history": [{"step": h["step"], "minutes": round(h["elapsed"] / 60, 1), "acc": [round(v, 3) for v in h["acc"]]}
                        for h in tr.get("history") or [] if not h.get("check")]}


def card(model, ev, figures):
    """The model card's text: train/model_card.md.in filled from the exported file, the evaluation and the run."""
    summ = export.summary(model)
    cfg, p, r, rt = summ["config"], summ["params"], figures["run"], figures["runtime"]
    if rt.get("model_sha256") != hashlib.sha256(open(model, "rb").read()).hexdigest():  # measured on another file
        rt = {"settings": "40 steps, CFG 3: not measured on this file yet (`STEPS=40 CFG=3 npm run bench:semantic`)",
              "colour": "-", "shape": "-", "position": "-", "parity_rel_l2": "- (not measured on this file yet)"}
    table = "\n".join(f"| PyTorch, {ev['steps']} steps, CFG {ev['cfg']:g}, {k} | {v['color']:.3f} | {v['shape']:.3f} | "
                      f"{v['position']:.3f} |" for k, v in ev["samplers"].items())
    return fill(open(os.path.join(HERE, "model_card.md.in")).read(), {
        "FILE_MB": f"{summ['file_bytes'] / 1e6:.1f}", "FILE_BYTES": f"{summ['file_bytes']:,}",
        "CLIP_LAYERS": cfg["clip"]["layers"], "CLIP_WIDTH": cfg["clip"]["width"], "CLIP_HEADS": cfg["clip"]["heads"],
        "UNET_CH": cfg["unet"]["model_channels"], "UNET_MULT": ", ".join(map(str, cfg["unet"]["channel_mult"])),
        "UNET_HEADS": cfg["unet"]["num_heads"], "VAE_CH": cfg["vae"]["ch"],
        "VAE_MULT": ", ".join(map(str, cfg["vae"]["ch_mult"])), "SCALE": cfg["scale_factor"],
        "P_CLIP": f"{p['clip_text']:,}", "P_UNET": f"{p['unet']:,}", "P_VAE": f"{p['vae']:,}",
        "P_TOTAL": f"{p['clip_text'] + p['unet'] + p['vae']:,}", "MACHINE": r["machine"], "DATE": r["date"],
        "B_VAE": f"{r['budgets_min']['vae']:g}", "B_UNET": f"{r['budgets_min']['unet']:g}",
        "B_TEXT": f"{r['budgets_min']['text_phase']:g}", "UNET_BATCH": r["unet_batch"],
        "VAE_STEPS": r["vae_steps"], "UNET_STEPS": r["unet_steps"], "WALL_MIN": f"{r['wall_minutes']:.1f}",
        "VAE_L1": f"{r['vae_l1']:.4f}", "VAE_MSE": f"{r['vae_mse']:.5f}", "UNET_LOSS": f"{r['unet_loss']:.4f}",
        "EVAL_N": ev["n_prompts"], "EVAL_SEEDS": ", ".join(map(str, ev["seeds"])), "EVAL_TABLE": table,
        "VAE_PSNR": f"{ev['vae']['psnr_db']:.1f}", "RT_SETTINGS": rt["settings"], "RT_COLOUR": rt["colour"],
        "RT_SHAPE": rt["shape"], "RT_POSITION": rt["position"], "RT_PARITY": rt["parity_rel_l2"]})


def main():
    ap = argparse.ArgumentParser(description="After training: export, reference fixture, evaluation, loss plot, "
                                             "model card.")
    ap.add_argument("--run", default=os.path.join(HERE, "runs", "small"), help="the run folder (its final.pt)")
    ap.add_argument("--samplers", default="euler,euler_a,heun,dpmpp_2m,ddim", help="samplers to evaluate")
    ap.add_argument("--skip-eval", action="store_true", help="reuse train/eval_results.json")
    ap.add_argument("--machine", default=None, help="the training machine in words (default: this one's CPU)")
    ap.add_argument("--card-only", action="store_true",
                    help="only write the model card, from the shipped file, eval_results.json and run_figures.json")
    a = ap.parse_args()
    t0 = time.time()
    model = os.path.abspath(export.DEFAULT_OUT)
    figures_path = os.path.join(HERE, "run_figures.json")
    figures = json.load(open(figures_path))
    if not a.card_only:
        export.export(a.run, model)
        print("exported", model, os.path.getsize(model), "bytes", flush=True)
        ref = make_reference.make(model, os.path.abspath(make_reference.FIX))
        print("reference", ref["stats"], flush=True)
        if not a.skip_eval:
            r = subprocess.run([sys.executable, os.path.join(HERE, "evaluate.py"), "--model", model,
                                "--samplers", a.samplers])
            if r.returncode != 0:
                raise SystemExit("evaluate.py failed")
        final = torch.load(os.path.join(a.run, "final.pt"))
        rows = read_losses(os.path.join(a.run, "losses.csv"))
        plot(rows, final["train"].get("history"), os.path.join(ROOT, "models", "loss.png"))
        figures["run"] = run_figures(final, rows, a.machine or machine())
        with open(figures_path, "w") as f:
            json.dump(figures, f, indent=1)
            f.write("\n")
    text = card(model, json.load(open(os.path.join(HERE, "eval_results.json"))), figures)
    for folder in ("models", os.path.join("packages", "tiny-model")):
        if os.path.isdir(os.path.join(ROOT, folder)):
            open(os.path.join(ROOT, folder, "README.md"), "w").write(text)
    print(f"finish done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
