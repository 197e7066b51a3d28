// Where this package's own files are (package.json, native/data, a local build), found by walking
// up from this module: the same answer from lib/ under tsx, from dist/esm and from dist/cjs.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'sd-native';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) throw new Error(`sd-native: no package.json named ${PACKAGE_NAME} above ${from}`);
  }
}

/** the module's own URL; in the CommonJS build esbuild substitutes the file's URL for it */
export const moduleUrl: string = import.meta.url;
export const packageRoot: string = findPackageRoot(dirname(fileURLToPath(moduleUrl)));
export const packageVersion: string = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
