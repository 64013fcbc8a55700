// The repository's maintainer API, as the maintainer tool and the demo use it.
import type { Envelope } from '../core/metadata.ts';
import type { ProjectInfoJson } from '../core/apiTypes.ts';
import { putFile } from './files.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `fetch`, with a refusal that says which server could not be reached and why: undici's own is
 * only "fetch failed", its cause (ECONNREFUSED, ENOTFOUND, a certificate) hidden in `cause`.
 * Status 0, code `unreachable`.
 */
export async function reach(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    const where = new URL(url);
    throw new ApiError(0, 'unreachable', `cannot reach the server at ${where.origin} (${init?.method ?? 'GET'} ${where.pathname}): ${why}`);
  }
}

export type ProjectInfo = ProjectInfoJson;

export interface ServerConfig {
  sigstore: { fulcioUrl: string; rekorUrl: string; oidcIssuer: string | null; devTokenUrl: string | null };
}

/** A file the server does not hold yet, named in an upload's answer. */
export interface MissingFile {
  path: string;
  length: number;
  sha256: string;
}

/** The answer to an upload: published (201), or waiting for signatures or files (202). */
export interface UploadAnswer {
  status: 'published' | 'pending' | 'awaiting_files';
  version: number;
  signatures?: number;
  threshold?: number;
  signedSha256?: string;
  missingFiles?: MissingFile[];
}

export interface RequestOptions {
  /** Admin bearer token. */
  token?: string;
  json?: unknown;
  raw?: Buffer;
}

/** One JSON request to the repository; errors carry the server's stable error code. */
export async function jsonRequest<T>(
  base: string,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Uint8Array<ArrayBuffer> | undefined;
  if (opts.raw) {
    headers['content-type'] = 'application/octet-stream';
    body = new Uint8Array(opts.raw);
  } else if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const res = await reach(`${base.replace(/\/$/, '')}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  if (!res.ok) {
    const err = (parsed as { error?: { code?: string; message?: string } })?.error;
    throw new ApiError(
      res.status,
      err?.code ?? String(res.status),
      `${method} ${path}: ${res.status} ${err?.code ?? ''}: ${err?.message ?? text}`,
    );
  }
  return { status: res.status, body: parsed as T };
}

export class RepositoryApi {
  constructor(private readonly base: string) {}

  private call<T>(method: string, path: string, json?: unknown): Promise<{ status: number; body: T }> {
    return jsonRequest<T>(this.base, method, path, json !== undefined ? { json } : {});
  }

  async config(): Promise<ServerConfig> {
    return (await this.call<ServerConfig>('GET', '/api/v1/config')).body;
  }

  async project(name: string): Promise<ProjectInfo> {
    return (await this.call<ProjectInfo>('GET', `/api/v1/projects/${encodeURIComponent(name)}`)).body;
  }

  async metadata(file: string): Promise<Envelope> {
    return (await this.call<Envelope>('GET', `/metadata/${file}`)).body;
  }

  async register(request: Envelope): Promise<{ status: number; body: { registration: { id: number; status: string } } }> {
    return this.call('POST', '/api/v1/registrations', request);
  }

  /** Sends signed role metadata alone (a co-signature, or the first step of a release). */
  async uploadMetadata(project: string, metadata: Envelope): Promise<{ status: number; body: UploadAnswer }> {
    return this.call<UploadAnswer>('POST', `/api/v1/projects/${encodeURIComponent(project)}/uploads`, { metadata });
  }

  /** Streams one file of an open upload (named by the sha256 of its signed metadata). */
  async uploadFile(
    project: string,
    signedSha256: string,
    targetPath: string,
    file: string,
    length: number,
  ): Promise<{ status: number; body: UploadAnswer }> {
    const url = `${this.base.replace(/\/$/, '')}/api/v1/projects/${encodeURIComponent(project)}/uploads/${signedSha256}/files/${targetPath.split('/').map(encodeURIComponent).join('/')}`;
    const res = await putFile(url, file, length);
    let parsed: unknown = res.text;
    try {
      parsed = JSON.parse(res.text);
    } catch {
      // keep the text
    }
    if (res.status < 200 || res.status >= 300) {
      const err = (parsed as { error?: { code?: string; message?: string } })?.error;
      throw new ApiError(
        res.status,
        err?.code ?? String(res.status),
        `PUT ${targetPath}: ${res.status} ${err?.code ?? ''}: ${err?.message ?? res.text}`,
      );
    }
    return { status: res.status, body: parsed as UploadAnswer };
  }

  /**
   * A release in one call: the signed metadata first (the server verifies it before it accepts a
   * byte of a file), then each file it still lacks, streamed from `files` (target path -> local
   * file). The answer of the last request says whether the version is published.
   */
  async publish(project: string, metadata: Envelope, files: Map<string, { file: string; length: number }>): Promise<UploadAnswer> {
    let answer = (await this.uploadMetadata(project, metadata)).body;
    const missing = answer.missingFiles ?? [];
    const unknown = missing.filter((m) => !files.has(m.path));
    if (unknown.length > 0) throw new Error(`the server holds no file for ${unknown.map((m) => m.path).join(', ')}, and none was given`);
    for (const m of missing) {
      const local = files.get(m.path)!;
      answer = (await this.uploadFile(project, answer.signedSha256!, m.path, local.file, local.length)).body;
    }
    return answer;
  }
}
