"""Load the golden tiny SD1 weights (test/fixtures) into train/sd_modules.py and reproduce the golden
outputs and intermediates. Exit 0 when every compared tensor has rel-L2 < 1e-5.

    python3 train/check_against_goldens.py [--golden test/fixtures]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
from sd_modules import (CLIP_PREFIX, UNET_PREFIX, VAE_PREFIX, AutoencoderKL, CLIPTextModel,  # noqa: E402
                        UNetModel, timestep_embedding)
from tokenizer import ClipTokenizer  # noqa: E402

TOL = 1e-5
results = []


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(name, got, ref):
    got = got.detach().numpy() if hasattr(got, "detach") else got
    if got.shape != ref.shape:
        results.append((name, float("inf")))
        print(f"FAIL {name}: shape {got.shape} vs {ref.shape}")
        return
    r = rel(got, ref)
    results.append((name, r))
    print(f"{'ok  ' if r < TOL else 'FAIL'} {name:70s} rel_l2 {r:.2e}")


def weights(t, prefix):
    return {k[len(prefix):]: torch.from_numpy(v) for k, v in t.items() if k.startswith(prefix)}


def check_unet(g):
    t, _ = st_io.load(os.path.join(g, "unet_sd1_tiny.safetensors"))
    kw = json.load(open(os.path.join(g, "unet_sd1_tiny.json")))["constructor_kwargs"]
    m = UNetModel(in_channels=kw["in_channels"], out_channels=kw["out_channels"],
                  model_channels=kw["model_channels"], channel_mult=kw["channel_mult"],
                  num_res_blocks=kw["num_res_blocks"], attention_resolutions=kw["attention_resolutions"],
                  num_heads=kw["num_heads"], context_dim=kw["context_dim"]).eval()
    m.load_state_dict(weights(t, UNET_PREFIX), strict=True)
    got = {}

    def hook(name, with_inputs=False):
        def f(mod, inp, out):
            got[name + ".out"] = out
            if with_inputs:
                for i, x in enumerate(inp):
                    got[f"{name}.in{i}"] = x
        return f
    m.time_embed.register_forward_hook(hook("time_embed"))
    for i, b in enumerate(m.input_blocks):
        b.register_forward_hook(hook(f"input_blocks.{i}"))
    m.middle_block.register_forward_hook(hook("middle_block"))
    for i, b in enumerate(m.output_blocks):
        b.register_forward_hook(hook(f"output_blocks.{i}"))
    m.input_blocks[1][0].register_forward_hook(hook("first_resblock", True))
    m.input_blocks[1][1].register_forward_hook(hook("first_spatial_transformer", True))
    ts = torch.from_numpy(t["golden.input.timesteps"])
    with torch.no_grad():
        eps = m(torch.from_numpy(t["golden.input.x"]), ts, torch.from_numpy(t["golden.input.context"]))
        got["time_embed.in0"] = timestep_embedding(ts, kw["model_channels"])
    check("unet golden.output.eps", eps, t["golden.output.eps"])
    for k in sorted(t):
        if k.startswith("golden.intermediate."):
            check("unet " + k, got[k[len("golden.intermediate."):]], t[k])


def check_vae(g):
    t, _ = st_io.load(os.path.join(g, "vae_tiny.safetensors"))
    dd = json.load(open(os.path.join(g, "vae_tiny.json")))["constructor_kwargs"]["ddconfig"]
    m = AutoencoderKL(ch=dd["ch"], ch_mult=dd["ch_mult"], num_res_blocks=dd["num_res_blocks"],
                      z_channels=dd["z_channels"]).eval()
    m.load_state_dict(weights(t, VAE_PREFIX), strict=True)
    got = {}

    def hook(name):
        def f(mod, inp, out):
            got[name + ".in0"], got[name + ".out"] = inp[0], out
        return f
    m.encoder.conv_in.register_forward_hook(hook("encoder.conv_in"))
    m.encoder.down[0].block[0].register_forward_hook(hook("encoder.first_resnet"))
    m.encoder.down[0].downsample.register_forward_hook(hook("encoder.first_downsample"))
    m.encoder.mid.attn_1.register_forward_hook(hook("encoder.mid.attn_1"))
    m.encoder.register_forward_hook(hook("encoder"))
    m.post_quant_conv.register_forward_hook(hook("post_quant_conv"))
    m.decoder.conv_in.register_forward_hook(hook("decoder.conv_in"))
    m.decoder.mid.attn_1.register_forward_hook(hook("decoder.mid.attn_1"))
    m.decoder.up[len(dd["ch_mult"]) - 1].upsample.register_forward_hook(hook("decoder.first_upsample"))
    with torch.no_grad():
        mom = m.encode_moments(torch.from_numpy(t["golden.input.image"]))
        mean, logvar = mom[:, :4], mom[:, 4:].clamp(-30, 20)
        std = torch.exp(0.5 * logvar)
        out = {"moments": mom, "mean": mean, "logvar": logvar, "std": std,
               "z_sample": mean + std * torch.from_numpy(t["golden.input.noise"])}
        enc_got = dict(got)
        z = torch.from_numpy(t["golden.input.z"])
        out["decoded"] = m.decode(z)
        dec_got = dict(got)
        out["decoded_from_scaled"] = m.decode(z / 0.18215)
    for k, v in out.items():
        check("vae golden.output." + k, v, t["golden.output." + k])
    for k in sorted(t):
        if k.startswith("golden.intermediate."):
            name = k[len("golden.intermediate."):]
            src = enc_got if name.startswith("encoder") else dec_got
            check("vae " + k, src[name], t[k])


def check_clip(g):
    t, _ = st_io.load(os.path.join(g, "clip_text_tiny.safetensors"))
    kw = json.load(open(os.path.join(g, "clip_text_tiny.json")))["constructor_kwargs"]
    m = CLIPTextModel(width=kw["transformer_width"], heads=kw["transformer_heads"],
                      layers=kw["transformer_layers"]).eval()
    w = weights(t, CLIP_PREFIX)
    pos_ids = w.pop("embeddings.position_ids")
    assert pos_ids.tolist() == [list(range(77))], "position_ids"
    m.load_state_dict(w, strict=True)
    ids = torch.from_numpy(t["golden.input.token_ids"])
    tok = ClipTokenizer()
    mine = tok.encode_sd1("a photo of a cat")
    assert mine == ids[0].tolist(), (mine, ids[0].tolist())
    print("ok   tokenizer SD1 ids for 'a photo of a cat' == golden.input.token_ids[0]")
    with torch.no_grad():
        last, hs = m(ids, return_hidden=True)
        pen_ln = m.final_layer_norm(hs[-2])
    check("clip golden.output.last_hidden_state", last, t["golden.output.last_hidden_state"])
    check("clip golden.output.penultimate_hidden_state", hs[-2], t["golden.output.penultimate_hidden_state"])
    check("clip golden.output.penultimate_hidden_state_ln", pen_ln, t["golden.output.penultimate_hidden_state_ln"])
    for i in range(len(hs)):
        check(f"clip golden.output.hidden_states.{i}", hs[i], t[f"golden.output.hidden_states.{i}"])
    pooled = last[torch.arange(2), ids.argmax(-1)]
    check("clip golden.output.pooled", pooled, t["golden.output.pooled"])


def check_tokenizer(g):
    d = json.load(open(os.path.join(g, "tokenizer_golden.json")))
    tok = ClipTokenizer()
    n = ok = 0
    for case in d["items"]:
        p = case["prompt"]
        if not all(ord(c) < 128 for c in p):
            continue
        n += 1
        ids = tok.bpe_ids(p)
        if ids == case["bpe_ids"]:
            ok += 1
        else:
            print(f"     tokenizer mismatch {p!r}: {ids} vs {case['bpe_ids']}")
    results.append(("tokenizer plain-ASCII prompts", 0.0 if ok == n else 1.0))
    print(f"{'ok  ' if ok == n else 'FAIL'} tokenizer: {ok}/{n} plain-ASCII golden prompts match bpe_ids")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", default=os.path.join(HERE, "..", "test", "fixtures"),
                    help="folder of the goldens (unet_sd1_tiny, vae_tiny, clip_text_tiny, tokenizer_golden.json)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    check_tokenizer(a.golden)
    check_clip(a.golden)
    check_vae(a.golden)
    check_unet(a.golden)
    bad = [n for n, r in results if not r < TOL]
    worst = max(r for _, r in results)
    print(f"\n{len(results) - len(bad)}/{len(results)} checks pass (tol rel-L2 {TOL:g}); worst {worst:.2e}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
