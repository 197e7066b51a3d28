// What A1111 writes for an external VAE in the infotext: "VAE hash" (the first 10 hex digits of
// the file's sha256, modules/sd_vae.py get_loaded_vae_hash) and "VAE" (its file name).
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';

/** { name, hash } of a VAE file; reads it once in 8 MiB pieces (VAE files are ~330 MB). */
export function vaeInfo(path: string): { name: string; hash: string } {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(8 << 20);
  const fd = openSync(path, 'r');
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return { name: basename(path), hash: h.digest('hex').slice(0, 10) };
}
