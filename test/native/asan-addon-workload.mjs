// Run under the ASan+UBSan addon by sanitizers.test.ts (node itself is not instrumented, so the
// sanitizer runtime is preloaded): the same calls the parent makes with the plain addon, printing
// the loaded binary and every image and latent for the parent to compare.

const [dist, checkpoint] = process.argv.slice(2);
const { StableDiffusion, systemInfo } = await import(dist);
const { workload } = await import(new URL('./asan-addon-calls.mjs', import.meta.url));
const results = await workload(StableDiffusion, checkpoint);
process.stdout.write(JSON.stringify({ binary: systemInfo().binary, results }) + '\n');
