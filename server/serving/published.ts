// What the write side hands the read side after a commit: roles and versions, and for files this
// process signed itself, their bytes (so it serves them without reading them back).

export interface PublishedRole {
  role: string;
  version: number;
}

export interface PublishedFile extends PublishedRole {
  /** The bytes just stored. Never sent in a notification. */
  file?: { bytes: Buffer; sha256: string; expires: Date };
  /** Without the bytes (another process's announcement): the version's expiry, when it said. */
  expires?: Date;
}

export function rolesAndVersions(published: PublishedFile[]): PublishedRole[] {
  return published.map(({ role, version }) => ({ role, version }));
}
