// What an earlier `tuf-carry pull` into the same folder left there (drill finding): root, targets
// and bins are written under their version, so a second pull puts `4.root.json` beside `3.root.json`,
// and the runbooks' `current/N.root.json` no longer names one file. Nothing is removed (the files
// are the admin's); the pull names what is current and what is older.
import fs from 'node:fs';
import path from 'node:path';

const VERSIONED = /^(\d+)\.(.+)\.json$/;

/**
 * The files in `out` (and `out/bins`) holding an older version of a role than the one just
 * written: `written` are the files of this pull, named `N.ROLE.json`.
 */
export function olderVersions(out: string, written: string[]): string[] {
  const newest = new Map<string, number>();
  for (const file of written) {
    const m = VERSIONED.exec(path.basename(file));
    if (m) newest.set(`${path.dirname(file)}\n${m[2]}`, Number(m[1]));
  }
  const older: string[] = [];
  for (const dir of [out, path.join(out, 'bins')]) {
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).sort()) {
      const m = VERSIONED.exec(name);
      const current = m ? newest.get(`${dir}\n${m[2]}`) : undefined;
      if (m && current !== undefined && Number(m[1]) < current) older.push(path.join(dir, name));
    }
  }
  return older;
}
