// Where this package's own files are (package.json, native/data, a local build), found by walking
// up from this module: the same answer from lib/ under tsx, from dist/esm and from dist/cjs.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'sd-native';

function findPackage(from: string): { root: string; version: string } {
  for (let dir = from; ; dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (existsSync(path)) {
      const manifest = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version: string };
      if (manifest.name === PACKAGE_NAME) return { root: dir, version: manifest.version };
    }
    if (dirname(dir) === dir) throw new Error(`sd-native: no package.json named ${PACKAGE_NAME} above ${from}`);
  }
}

/** the module's own URL; in the CommonJS build esbuild substitutes the file's URL for it */
export const moduleUrl: string = import.meta.url;
const found = findPackage(dirname(fileURLToPath(moduleUrl)));
export const packageRoot: string = found.root;
export const packageVersion: string = found.version;
