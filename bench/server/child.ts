// The server process the bench drives: `sd-native serve` exactly as the CLI runs it.
//   node --import tsx bench/server/child.ts --model m.safetensors --port 0 --batch-window-ms 50 -q
import { serveCommand } from '../../lib/cli/serve.js';

process.exitCode = await serveCommand(process.argv.slice(2));
