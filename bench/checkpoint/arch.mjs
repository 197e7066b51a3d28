// Tensor lists (names, shapes, init) of the Stable Diffusion single-file checkpoint layouts,
// generated from the architecture hyper-parameters the way the reference code builds its modules:
//   UNet  CompVis ldm / Stability sgm openaimodel.py UNetModel   -> model.diffusion_model.*
//   VAE   ldm AutoencoderKL Encoder/Decoder (model.py)            -> first_stage_model.*
//   CLIP  HF CLIPTextModel (SD1, SDXL embedder 0)                 -> ...transformer.text_model.*
//   OpenCLIP text tower, OpenAI-style names (SD2, SDXL embedder 1) -> ...model.*
// `--self-check` in make-random-checkpoint builds these at the tiny sizes of the parity goldens and
// compares names and shapes with their sidecars, so the full-size lists follow the same code.
//
// Each tensor: { name, shape, init } where init is one of
//   { kind: 'normal', std }        weights N(0, std²), std = 1/sqrt(fan_in) for Linear/Conv
//   { kind: 'normal', std, mean }  norm weights: 1 + N(0, 0.02²)
//   { kind: 'const', value }       logit_scale
//   { kind: 'arange' }             position_ids (I64)

const W = (fanIn) => ({ kind: 'normal', std: 1 / Math.sqrt(fanIn) });
const BIAS = { kind: 'normal', std: 0.02 };
const NORM_W = { kind: 'normal', std: 0.02, mean: 1 };
const NORM_B = { kind: 'normal', std: 0.02 };

class List {
  constructor(prefix) {
    this.prefix = prefix;
    this.tensors = [];
  }
  add(name, shape, init, dtype) {
    this.tensors.push({ name: this.prefix + name, shape, init, dtype });
  }
  linear(name, out, inp, bias = true) {
    this.add(`${name}.weight`, [out, inp], W(inp));
    if (bias) this.add(`${name}.bias`, [out], BIAS);
  }
  conv(name, out, inp, k) {
    this.add(`${name}.weight`, [out, inp, k, k], W(inp * k * k));
    this.add(`${name}.bias`, [out], BIAS);
  }
  norm(name, ch) {
    this.add(`${name}.weight`, [ch], NORM_W);
    this.add(`${name}.bias`, [ch], NORM_B);
  }
}

// ---- UNet -----------------------------------------------------------------------------------

// cfg: { modelChannels, channelMult, numResBlocks, attnLevels: Set of level indices (ds = 2^level
// in attention_resolutions), depth: per-level transformer depth, contextDim, linearProj, admIn,
// inChannels, outChannels }
export function unet(cfg, prefix = 'model.diffusion_model.') {
  const L = new List(prefix);
  const mc = cfg.modelChannels;
  const ted = mc * 4;  // time_embed_dim
  const depthMid = cfg.depth[cfg.depth.length - 1];

  const resBlock = (p, cin, cout) => {
    L.norm(`${p}.in_layers.0`, cin);
    L.conv(`${p}.in_layers.2`, cout, cin, 3);
    L.linear(`${p}.emb_layers.1`, cout, ted);
    L.norm(`${p}.out_layers.0`, cout);
    L.conv(`${p}.out_layers.3`, cout, cout, 3);
    if (cin !== cout) L.conv(`${p}.skip_connection`, cout, cin, 1);
  };
  // SpatialTransformer: inner_dim = heads × head_dim = ch for every SD model.
  const transformer = (p, ch, depth) => {
    const ctx = cfg.contextDim;
    L.norm(`${p}.norm`, ch);
    if (cfg.linearProj) L.linear(`${p}.proj_in`, ch, ch);
    else L.conv(`${p}.proj_in`, ch, ch, 1);
    for (let d = 0; d < depth; d++) {
      const b = `${p}.transformer_blocks.${d}`;
      L.linear(`${b}.attn1.to_q`, ch, ch, false);
      L.linear(`${b}.attn1.to_k`, ch, ch, false);
      L.linear(`${b}.attn1.to_v`, ch, ch, false);
      L.linear(`${b}.attn1.to_out.0`, ch, ch);
      L.linear(`${b}.ff.net.0.proj`, ch * 8, ch);  // GEGLU: 2 × 4ch
      L.linear(`${b}.ff.net.2`, ch, ch * 4);
      L.linear(`${b}.attn2.to_q`, ch, ch, false);
      L.linear(`${b}.attn2.to_k`, ch, ctx, false);
      L.linear(`${b}.attn2.to_v`, ch, ctx, false);
      L.linear(`${b}.attn2.to_out.0`, ch, ch);
      L.norm(`${b}.norm1`, ch);
      L.norm(`${b}.norm2`, ch);
      L.norm(`${b}.norm3`, ch);
    }
    if (cfg.linearProj) L.linear(`${p}.proj_out`, ch, ch);
    else L.conv(`${p}.proj_out`, ch, ch, 1);
  };

  L.linear('time_embed.0', ted, mc);
  L.linear('time_embed.2', ted, ted);
  if (cfg.admIn) {
    L.linear('label_emb.0.0', ted, cfg.admIn);
    L.linear('label_emb.0.2', ted, ted);
  }
  L.conv('input_blocks.0.0', mc, cfg.inChannels, 3);
  const skips = [mc];
  let ch = mc;
  let block = 1;
  cfg.channelMult.forEach((mult, level) => {
    for (let r = 0; r < cfg.numResBlocks; r++) {
      resBlock(`input_blocks.${block}.0`, ch, mult * mc);
      ch = mult * mc;
      if (cfg.attnLevels.has(level) && cfg.depth[level] > 0) transformer(`input_blocks.${block}.1`, ch, cfg.depth[level]);
      skips.push(ch);
      block++;
    }
    if (level !== cfg.channelMult.length - 1) {
      L.conv(`input_blocks.${block}.0.op`, ch, ch, 3);  // Downsample
      skips.push(ch);
      block++;
    }
  });
  resBlock('middle_block.0', ch, ch);
  transformer('middle_block.1', ch, depthMid);
  resBlock('middle_block.2', ch, ch);
  block = 0;
  [...cfg.channelMult.entries()].reverse().forEach(([level, mult]) => {
    for (let r = 0; r <= cfg.numResBlocks; r++) {
      const ich = skips.pop();
      resBlock(`output_blocks.${block}.0`, ch + ich, mc * mult);
      ch = mc * mult;
      let sub = 1;
      if (cfg.attnLevels.has(level) && cfg.depth[level] > 0) transformer(`output_blocks.${block}.${sub++}`, ch, cfg.depth[level]);
      if (level !== 0 && r === cfg.numResBlocks) L.conv(`output_blocks.${block}.${sub}.conv`, ch, ch, 3);  // Upsample
      block++;
    }
  });
  L.norm('out.0', ch);
  L.conv('out.2', cfg.outChannels, mc, 3);
  return L.tensors;
}

// ---- VAE (AutoencoderKL) --------------------------------------------------------------------

export function vae(cfg, prefix = 'first_stage_model.') {
  const L = new List(prefix);
  const { ch, chMult, numResBlocks, zChannels, embedDim } = cfg;
  const resnet = (p, cin, cout) => {
    L.norm(`${p}.norm1`, cin);
    L.conv(`${p}.conv1`, cout, cin, 3);
    L.norm(`${p}.norm2`, cout);
    L.conv(`${p}.conv2`, cout, cout, 3);
    if (cin !== cout) L.conv(`${p}.nin_shortcut`, cout, cin, 1);
  };
  const attn = (p, c) => {
    L.norm(`${p}.norm`, c);
    for (const n of ['q', 'k', 'v', 'proj_out']) L.conv(`${p}.${n}`, c, c, 1);
  };
  const mid = (p, c) => {
    resnet(`${p}.mid.block_1`, c, c);
    attn(`${p}.mid.attn_1`, c);
    resnet(`${p}.mid.block_2`, c, c);
  };

  // Encoder
  L.conv('encoder.conv_in', ch, 3, 3);
  const inMult = [1, ...chMult];
  let blockIn = ch;
  chMult.forEach((m, i) => {
    blockIn = ch * inMult[i];
    const blockOut = ch * m;
    for (let r = 0; r < numResBlocks; r++) {
      resnet(`encoder.down.${i}.block.${r}`, blockIn, blockOut);
      blockIn = blockOut;
    }
    if (i !== chMult.length - 1) L.conv(`encoder.down.${i}.downsample.conv`, blockIn, blockIn, 3);
  });
  mid('encoder', blockIn);
  L.norm('encoder.norm_out', blockIn);
  L.conv('encoder.conv_out', 2 * zChannels, blockIn, 3);

  // Decoder: up.{i} is stored by level index; built from the deepest level up.
  const top = ch * chMult[chMult.length - 1];
  L.conv('decoder.conv_in', top, zChannels, 3);
  mid('decoder', top);
  const ups = [];
  blockIn = top;
  for (let i = chMult.length - 1; i >= 0; i--) {
    const blockOut = ch * chMult[i];
    const entries = [];
    for (let r = 0; r <= numResBlocks; r++) {
      entries.push([`decoder.up.${i}.block.${r}`, blockIn, blockOut]);
      blockIn = blockOut;
    }
    ups[i] = { entries, upsample: i !== 0 ? blockIn : 0 };
  }
  ups.forEach((u, i) => {
    for (const [p, a, b] of u.entries) resnet(p, a, b);
    if (u.upsample) L.conv(`decoder.up.${i}.upsample.conv`, u.upsample, u.upsample, 3);
  });
  L.norm('decoder.norm_out', ch * chMult[0]);
  L.conv('decoder.conv_out', 3, ch * chMult[0], 3);
  L.conv('quant_conv', 2 * embedDim, 2 * zChannels, 1);
  L.conv('post_quant_conv', zChannels, embedDim, 1);
  return L.tensors;
}

// ---- text encoders --------------------------------------------------------------------------

// HF CLIPTextModel (OpenAI CLIP ViT-L/14 text tower).
export function clipText(cfg, prefix) {
  const L = new List(prefix);
  const w = cfg.width;
  L.add('embeddings.token_embedding.weight', [cfg.vocab, w], { kind: 'normal', std: 0.02 });
  L.add('embeddings.position_embedding.weight', [cfg.context, w], { kind: 'normal', std: 0.01 });
  for (let i = 0; i < cfg.layers; i++) {
    const p = `encoder.layers.${i}`;
    for (const n of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) L.linear(`${p}.self_attn.${n}`, w, w);
    L.norm(`${p}.layer_norm1`, w);
    L.linear(`${p}.mlp.fc1`, 4 * w, w);
    L.linear(`${p}.mlp.fc2`, w, 4 * w);
    L.norm(`${p}.layer_norm2`, w);
  }
  L.norm('final_layer_norm', w);
  L.add('embeddings.position_ids', [1, cfg.context], { kind: 'arange' }, 'I64');
  return L.tensors;
}

// OpenCLIP text tower with fused in_proj (SD2 ViT-H, SDXL ViT-bigG).
export function openclipText(cfg, prefix) {
  const L = new List(prefix);
  const w = cfg.width;
  L.add('positional_embedding', [cfg.context, w], { kind: 'normal', std: 0.01 });
  L.add('text_projection', [w, cfg.embedDim], W(w));
  L.add('logit_scale', [], { kind: 'const', value: Math.log(1 / 0.07) });
  for (let i = 0; i < cfg.layers; i++) {
    const p = `transformer.resblocks.${i}`;
    L.norm(`${p}.ln_1`, w);
    L.add(`${p}.attn.in_proj_weight`, [3 * w, w], W(w));
    L.add(`${p}.attn.in_proj_bias`, [3 * w], BIAS);
    L.linear(`${p}.attn.out_proj`, w, w);
    L.norm(`${p}.ln_2`, w);
    L.linear(`${p}.mlp.c_fc`, 4 * w, w);
    L.linear(`${p}.mlp.c_proj`, w, 4 * w);
  }
  L.add('token_embedding.weight', [cfg.vocab, w], { kind: 'normal', std: 0.02 });
  L.norm('ln_final', w);
  return L.tensors;
}

// ---- the checkpoints ------------------------------------------------------------------------

const VAE = { ch: 128, chMult: [1, 2, 4, 4], numResBlocks: 2, zChannels: 4, embedDim: 4 };
const CLIP_L = { width: 768, layers: 12, vocab: 49408, context: 77 };
const UNET_SD = {
  modelChannels: 320, channelMult: [1, 2, 4, 4], numResBlocks: 2, attnLevels: new Set([0, 1, 2]),
  depth: [1, 1, 1, 1], inChannels: 4, outChannels: 4,
};

// Each architecture: components in checkpoint order, each { label, tensors }.
export const ARCHS = {
  sd1: () => [
    { label: 'unet', tensors: unet({ ...UNET_SD, contextDim: 768, linearProj: false }) },
    { label: 'vae', tensors: vae(VAE) },
    { label: 'clip-l', tensors: clipText(CLIP_L, 'cond_stage_model.transformer.text_model.') },
  ],
  sd2: () => [
    { label: 'unet', tensors: unet({ ...UNET_SD, contextDim: 1024, linearProj: true }) },
    { label: 'vae', tensors: vae(VAE) },
    {
      label: 'openclip-h',
      tensors: openclipText({ width: 1024, layers: 24, vocab: 49408, context: 77, embedDim: 1024 }, 'cond_stage_model.model.'),
    },
  ],
  sdxl: () => [
    {
      label: 'unet',
      tensors: unet({
        modelChannels: 320, channelMult: [1, 2, 4], numResBlocks: 2, attnLevels: new Set([1, 2]),
        depth: [0, 2, 10], contextDim: 2048, linearProj: true, admIn: 2816, inChannels: 4, outChannels: 4,
      }),
    },
    { label: 'vae', tensors: vae(VAE) },
    { label: 'clip-l', tensors: clipText(CLIP_L, 'conditioner.embedders.0.transformer.text_model.') },
    {
      label: 'openclip-bigg',
      tensors: openclipText({ width: 1280, layers: 32, vocab: 49408, context: 77, embedDim: 1280 }, 'conditioner.embedders.1.model.'),
    },
  ],
};

// The same builders at the sizes of the parity goldens (test/… sidecars in shared/golden).
export const TINY = {
  unet_sd1_tiny: () => unet({
    modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attnLevels: new Set([0, 1]), depth: [1, 1],
    contextDim: 64, linearProj: false, inChannels: 4, outChannels: 4,
  }),
  unet_sd2_tiny: () => unet({
    modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attnLevels: new Set([0, 1]), depth: [1, 1],
    contextDim: 64, linearProj: true, inChannels: 4, outChannels: 4,
  }),
  unet_sdxl_tiny: () => unet({
    modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attnLevels: new Set([0, 1]), depth: [1, 2],
    contextDim: 64, linearProj: true, admIn: 1568, inChannels: 4, outChannels: 4,
  }),
  vae_tiny: () => vae({ ch: 32, chMult: [1, 2], numResBlocks: 1, zChannels: 4, embedDim: 4 }),
  clip_text_tiny: () => clipText({ width: 64, layers: 2, vocab: 49408, context: 77 }, 'cond_stage_model.transformer.text_model.'),
  openclip_text_tiny_sd2: () =>
    openclipText({ width: 64, layers: 2, vocab: 49408, context: 77, embedDim: 32 }, 'cond_stage_model.model.'),
  openclip_text_tiny_sdxl: () =>
    openclipText({ width: 64, layers: 2, vocab: 49408, context: 77, embedDim: 32 }, 'conditioner.embedders.1.model.'),
};
