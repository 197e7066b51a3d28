#!/usr/bin/env node
// sd-native command line: registers tsx so Node runs the TypeScript sources, then hands the
// arguments to lib/cli/main.ts. Exit codes: 0 done, 1 failed, 2 bad usage.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../lib/cli/main.ts');
process.exitCode = await run(process.argv.slice(2));
