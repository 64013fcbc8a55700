// What `tuf-server start` prints in development mode: where to point a client, and the files it made.
import type { Config } from './config.ts';

/** The lines `npm start` prints in development mode once the repository serves. */
export function developmentBanner(config: Config, rootFile: string, adminTokenFile: string): string {
  const base = config.publicUrl.replace(/\/$/, '');
  return (
    `\n  TUF repository (development mode) at ${base}\n` +
    `  metadata URL:   ${base}/metadata/\n` +
    `  targets URL:    ${base}/targets/\n` +
    `  trusted root:   ${rootFile}   (also ${base}/metadata/1.root.json)\n` +
    `  admin token:    ${adminTokenFile}\n\n`
  );
}
