// The calls the ASan end-to-end test makes through the public API, shared by the instrumented
// child and the plain parent: txt2img batches with an ancestral sampler, a masked img2img with
// the latent blend, a hires fix with its latent enlargement, step previews and a cancelled call.
// Returns each image's pixels and latent (base64), then how the cancelled call ended.
export async function workload(StableDiffusion, checkpoint) {
  const sd = await StableDiffusion.load(checkpoint, { threads: 2 });
  const out = [];
  const keep = (images) => {
    for (const img of images) out.push({ pixels: Buffer.from(img.data).toString('base64'), latent: Buffer.from(img.latent.buffer, img.latent.byteOffset, img.latent.byteLength).toString('base64') });
  };
  try {
    const base = { prompt: 'a (red:1.2) lighthouse [at dusk|at dawn]', negativePrompt: 'blurry', width: 32, height: 32, steps: 3, seed: 5 };
    keep(await sd.generate({ ...base, batchSize: 2, sampler: 'Euler a', preview: 'cheap', onStep: () => {} }));
    const init = { data: new Uint8Array(32 * 32 * 3).map((_, i) => (i * 37) & 255), width: 32, height: 32, channels: 3 };
    const mask = { data: new Uint8Array(32 * 32).map((_, i) => ((i % 32) < 16 ? 255 : 0)), width: 32, height: 32, channels: 1 };
    keep(await sd.generate({ ...base, sampler: 'DPM++ 2M', initImage: init, mask, maskBlur: 2, strength: 0.6 }));
    keep(await sd.generate({ ...base, hires: true, hiresScale: 1.5, hiresSteps: 2, sampler: 'dpmpp_sde' }));
    const ac = new AbortController();
    const cancelled = sd.generate({ ...base, steps: 20, signal: ac.signal, onStep: (e) => { if (e.step === 2) ac.abort(); } });
    out.push(await cancelled.then(() => 'finished', (e) => (ac.signal.aborted ? 'aborted' : String(e))));
  } finally {
    sd.dispose();
  }
  return out;
}
