"""The three SD1 networks, written from the architecture description so that `state_dict()` keys equal
the SD1 single-file checkpoint keys without their prefix:

  CLIPTextModel  (HF)      -> cond_stage_model.transformer.text_model.*
  UNetModel      (CompVis) -> model.diffusion_model.*
  AutoencoderKL  (CompVis) -> first_stage_model.*

Validated against the goldens in test/fixtures by train/check_against_goldens.py.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CLIP_PREFIX = "cond_stage_model.transformer.text_model."
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."


# ----------------------------------------------------------------------------------------------------------
# CLIP text encoder (HF CLIPTextModel layout, QuickGELU, causal mask, pre-LN, LN eps 1e-5)
# ----------------------------------------------------------------------------------------------------------
class _ClipEmbeddings(nn.Module):
    def __init__(self, vocab, width, ctx):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Embedding(ctx, width)

    def forward(self, ids):  # ids [B, 77] -> [B, 77, W]
        return self.token_embedding(ids) + self.position_embedding.weight[None, : ids.shape[1]]


class _ClipAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x, mask):  # x [B, T, W]
        b, t, w = x.shape
        h, d = self.heads, w // self.heads
        q = (self.q_proj(x) * d ** -0.5).view(b, t, h, d).transpose(1, 2)  # [B, H, T, d]
        k = self.k_proj(x).view(b, t, h, d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, h, d).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) + mask, dim=-1)  # [B, H, T, T]
        return self.out_proj((a @ v).transpose(1, 2).reshape(b, t, w))


class _ClipMLP(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))  # QuickGELU


class _ClipLayer(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(width, eps=1e-5)
        self.self_attn = _ClipAttention(width, heads)
        self.layer_norm2 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = _ClipMLP(width)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class _ClipEncoder(nn.Module):
    def __init__(self, width, heads, layers):
        super().__init__()
        self.layers = nn.ModuleList([_ClipLayer(width, heads) for _ in range(layers)])


class CLIPTextModel(nn.Module):
    """forward(ids) -> (last_hidden_state [B,77,W] (final LN applied = SD1 context), hidden_states list)."""

    def __init__(self, width=128, heads=2, layers=4, vocab=49408, ctx=77):
        super().__init__()
        self.config = dict(width=width, heads=heads, layers=layers, vocab=vocab, ctx=ctx)
        self.embeddings = _ClipEmbeddings(vocab, width, ctx)
        self.encoder = _ClipEncoder(width, heads, layers)
        self.final_layer_norm = nn.LayerNorm(width, eps=1e-5)
        nn.init.normal_(self.embeddings.token_embedding.weight, std=0.02)
        nn.init.normal_(self.embeddings.position_embedding.weight, std=0.01)

    def forward(self, ids, return_hidden=False):
        t = ids.shape[1]
        mask = torch.full((t, t), float("-inf"), device=ids.device).triu(1)  # causal
        x = self.embeddings(ids)
        hs = [x]
        for layer in self.encoder.layers:
            x = layer(x, mask)
            hs.append(x)
        last = self.final_layer_norm(x)
        return (last, hs) if return_hidden else last


# ----------------------------------------------------------------------------------------------------------
# UNet (CompVis ldm openaimodel.UNetModel, SD1 flavour: SpatialTransformer with 1x1 conv proj_in/out)
# ----------------------------------------------------------------------------------------------------------
def gn(ch, eps):
    return nn.GroupNorm(32, ch, eps=eps)


def timestep_embedding(t, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, ch, emb_ch, out_ch):
        super().__init__()
        self.in_layers = nn.Sequential(gn(ch, 1e-5), nn.SiLU(), nn.Conv2d(ch, out_ch, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_ch, out_ch))
        self.out_layers = nn.Sequential(gn(out_ch, 1e-5), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(out_ch, out_ch, 3, padding=1))
        nn.init.zeros_(self.out_layers[3].weight)
        nn.init.zeros_(self.out_layers[3].bias)
        self.skip_connection = nn.Identity() if ch == out_ch else nn.Conv2d(ch, out_ch, 1)

    def forward(self, x, emb):
        h = self.in_layers(x)
        h = h + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class CrossAttention(nn.Module):
    def __init__(self, query_dim, context_dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))

    def forward(self, x, context=None):  # x [B, N, C], context [B, M, Cc]
        context = x if context is None else context
        b, n, _ = x.shape
        h = self.heads
        q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)
        q, k, v = (t.view(b, t.shape[1], h, -1).transpose(1, 2) for t in (q, k, v))  # [B, H, N, d]
        a = torch.softmax((q @ k.transpose(-1, -2)) * self.scale, dim=-1)
        return self.to_out((a @ v).transpose(1, 2).reshape(b, n, -1))


class GEGLU(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, dim_head, context_dim):
        super().__init__()
        self.attn1 = CrossAttention(dim, dim, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads, dim_head)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    def __init__(self, ch, heads, dim_head, context_dim, depth=1):
        super().__init__()
        inner = heads * dim_head
        self.norm = gn(ch, 1e-6)
        self.proj_in = nn.Conv2d(ch, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, context_dim) for _ in range(depth)])
        self.proj_out = nn.Conv2d(inner, ch, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x, context):  # x [B, C, H, W]
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x))
        h = h.flatten(2).transpose(1, 2)  # [B, HW, inner]
        for blk in self.transformer_blocks:
            h = blk(h, context)
        h = h.transpose(1, 2).reshape(b, -1, hh, ww)  # [B, inner, H, W]
        return self.proj_out(h) + x


class Downsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TimestepEmbedSequential(nn.ModuleList):
    def forward(self, x, emb, context):
        for m in self:
            if isinstance(m, ResBlock):
                x = m(x, emb)
            elif isinstance(m, SpatialTransformer):
                x = m(x, context)
            else:
                x = m(x)
        return x


class UNetModel(nn.Module):
    def __init__(self, in_channels=4, out_channels=4, model_channels=64, channel_mult=(1, 2, 2),
                 num_res_blocks=1, attention_resolutions=(1, 2), num_heads=8, context_dim=128,
                 transformer_depth=1):
        super().__init__()
        self.config = dict(in_channels=in_channels, out_channels=out_channels, model_channels=model_channels,
                           channel_mult=list(channel_mult), num_res_blocks=num_res_blocks,
                           attention_resolutions=list(attention_resolutions), num_heads=num_heads,
                           context_dim=context_dim, transformer_depth=transformer_depth)
        mc, ted = model_channels, model_channels * 4
        self.model_channels = mc
        self.time_embed = nn.Sequential(nn.Linear(mc, ted), nn.SiLU(), nn.Linear(ted, ted))

        def st(ch):
            return SpatialTransformer(ch, num_heads, ch // num_heads, context_dim, transformer_depth)

        self.input_blocks = nn.ModuleList([TimestepEmbedSequential([nn.Conv2d(in_channels, mc, 3, padding=1)])])
        chans, ch, ds = [mc], mc, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [ResBlock(ch, ted, mult * mc)]
                ch = mult * mc
                if ds in attention_resolutions:
                    layers.append(st(ch))
                self.input_blocks.append(TimestepEmbedSequential(layers))
                chans.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential([Downsample(ch)]))
                chans.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential([ResBlock(ch, ted, ch), st(ch), ResBlock(ch, ted, ch)])
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), ted, mc * mult)]
                ch = mc * mult
                if ds in attention_resolutions:
                    layers.append(st(ch))
                if level and i == num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(layers))
        self.out = nn.Sequential(gn(ch, 1e-5), nn.SiLU(), nn.Conv2d(mc, out_channels, 3, padding=1))
        nn.init.zeros_(self.out[2].weight)
        nn.init.zeros_(self.out[2].bias)

    def forward(self, x, timesteps, context):  # x [B,4,h,w], timesteps [B] float, context [B,77,Cc]
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        hs, h = [], x
        for m in self.input_blocks:
            h = m(h, emb, context)
            hs.append(h)
        h = self.middle_block(h, emb, context)
        for m in self.output_blocks:
            h = m(torch.cat([h, hs.pop()], dim=1), emb, context)
        return self.out(h)


# ----------------------------------------------------------------------------------------------------------
# VAE (CompVis ldm AutoencoderKL; GroupNorm(32, eps 1e-6); single-head mid attention with 1x1 convs)
# ----------------------------------------------------------------------------------------------------------
class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = gn(cin, 1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = gn(cout, 1e-6)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class AttnBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.norm = gn(ch, 1e-6)
        self.q, self.k, self.v = nn.Conv2d(ch, ch, 1), nn.Conv2d(ch, ch, 1), nn.Conv2d(ch, ch, 1)
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x):  # [B, C, H, W]
        b, c, hh, ww = x.shape
        h = self.norm(x)
        q = self.q(h).flatten(2).transpose(1, 2)  # [B, HW, C]
        k = self.k(h).flatten(2)  # [B, C, HW]
        v = self.v(h).flatten(2)  # [B, C, HW]
        w = torch.softmax((q @ k) * c ** -0.5, dim=2)  # [B, HWq, HWk]
        h = (v @ w.transpose(1, 2)).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class VaeDownsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class _Level(nn.Module):
    pass


class _Mid(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = ResnetBlock(ch, ch), AttnBlock(ch), ResnetBlock(ch, ch)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, in_channels, z_channels):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        in_mult = (1,) + tuple(ch_mult)
        for i, m in enumerate(ch_mult):
            lvl = _Level()
            bi, bo = ch * in_mult[i], ch * m
            lvl.block = nn.ModuleList([ResnetBlock(bi if j == 0 else bo, bo) for j in range(num_res_blocks)])
            lvl.attn = nn.ModuleList()
            if i != len(ch_mult) - 1:
                lvl.downsample = VaeDownsample(bo)
            self.down.append(lvl)
        c = ch * ch_mult[-1]
        self.mid = _Mid(c)
        self.norm_out = gn(c, 1e-6)
        self.conv_out = nn.Conv2d(c, 2 * z_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for lvl in self.down:
            for b in lvl.block:
                h = b(h)
            if hasattr(lvl, "downsample"):
                h = lvl.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, out_ch, z_channels):
        super().__init__()
        c = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c, 3, padding=1)
        self.mid = _Mid(c)
        ups = []
        for i in reversed(range(len(ch_mult))):
            lvl = _Level()
            bo = ch * ch_mult[i]
            blocks = []
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(c, bo))
                c = bo
            lvl.block = nn.ModuleList(blocks)
            lvl.attn = nn.ModuleList()
            if i != 0:
                lvl.upsample = Upsample(c)
            ups.insert(0, lvl)
        self.up = nn.ModuleList(ups)
        self.norm_out = gn(c, 1e-6)
        self.conv_out = nn.Conv2d(c, out_ch, 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for i in reversed(range(len(self.up))):
            for b in self.up[i].block:
                h = b(h)
            if hasattr(self.up[i], "upsample"):
                h = self.up[i].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, ch=32, ch_mult=(1, 2, 2, 2), num_res_blocks=1, z_channels=4, embed_dim=4):
        super().__init__()
        self.config = dict(ch=ch, ch_mult=list(ch_mult), num_res_blocks=num_res_blocks, z_channels=z_channels,
                           embed_dim=embed_dim, double_z=True, in_channels=3, out_ch=3)
        self.encoder = Encoder(ch, ch_mult, num_res_blocks, 3, z_channels)
        self.decoder = Decoder(ch, ch_mult, num_res_blocks, 3, z_channels)
        self.quant_conv = nn.Conv2d(2 * z_channels, 2 * embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)

    def encode_moments(self, x):  # x [B,3,H,W] in [-1,1] -> moments [B, 2*embed, H/8, W/8]
        return self.quant_conv(self.encoder(x))

    def decode(self, z):  # z unscaled latent -> image [-1,1]-ish
        return self.decoder(self.post_quant_conv(z))


def count_params(m):
    return sum(p.numel() for p in m.parameters())
