// sd-native doctor: what this installation is and can do, for bug reports.
import { nativePath } from '../binding.js';
import { systemInfo, version } from '../index.js';
import { parse, processIo, type Io } from './args.js';
import { DEFAULT_MODEL_PACKAGE, defaultModelPath } from '../default-model.js';

export const DOCTOR_USAGE = `usage: sd-native doctor

Prints the CPU paths this binary can use, threads, CUDA, which addon binary loaded, and the
Node / N-API versions.`;

export function doctorReport(): string {
  const s = systemInfo();
  const env = process.env.SD_NATIVE_BINARY;
  return [
    `sd-native   ${version}`,
    `node        ${process.version} (N-API ${process.versions.napi}, ${process.platform}-${process.arch})`,
    `binary      ${nativePath}${env ? ` (from SD_NATIVE_BINARY)` : ''}`,
    `cpu         ${s.isa} selected; paths this CPU runs: ${s.cpuPaths.join(', ')}`,
    `threads     ${s.hardwareThreads} hardware threads`,
    `cuda        ${s.cuda ? 'yes (this binary has the CUDA backend)' : 'no (CPU-only binary; `npm install @sd-native/linux-x64-cuda` adds the CUDA one)'}`,
    `device      'auto' runs on ${s.autoDevice === 'cuda' ? 'the GPU (cuda:0)' : `the CPU here: ${s.noCudaReason}`}`,
    `model       ${defaultModelPath() ?? `${DEFAULT_MODEL_PACKAGE} not installed (pass -m to commands)`}`,
  ].join('\n');
}

export async function doctorCommand(args: string[], io: Io = processIo): Promise<number> {
  const { values } = parse(args, {}, DOCTOR_USAGE);
  io.stdout.write(`${values.help ? DOCTOR_USAGE : doctorReport()}\n`);
  return 0;
}
