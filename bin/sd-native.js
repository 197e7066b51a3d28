#!/usr/bin/env node
// sd-native command line (compiled to dist/ by `npm run build:dist`). Exit codes: 0 done,
// 1 failed, 2 bad usage.
import { run } from '../dist/esm/cli/main.js';

process.exitCode = await run(process.argv.slice(2));
