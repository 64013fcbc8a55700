// The repository's maintainer API, as the maintainer tool and the demo use it.
import type { Envelope } from '../core/metadata.ts';
import type { ProjectInfoJson } from '../core/apiTypes.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type ProjectInfo = ProjectInfoJson;

export interface ServerConfig {
  sigstore: { fulcioUrl: string; rekorUrl: string; oidcIssuer: string | null; devTokenUrl: string | null };
}

export interface RequestOptions {
  /** Admin bearer token. */
  token?: string;
  json?: unknown;
  raw?: Buffer;
}

/** One JSON request to the repository; errors carry the server's stable error code. */
export async function jsonRequest<T>(base: string, method: string, path: string, opts: RequestOptions = {}): Promise<{ status: number; body: T }> {
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
  const res = await fetch(`${base.replace(/\/$/, '')}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  if (!res.ok) {
    const err = (parsed as { error?: { code?: string; message?: string } })?.error;
    throw new ApiError(res.status, err?.code ?? String(res.status), `${method} ${path}: ${res.status} ${err?.code ?? ''}: ${err?.message ?? text}`);
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

  async upload(project: string, metadata: Envelope, files: Record<string, Buffer>) {
    const encoded: Record<string, string> = {};
    for (const [path, bytes] of Object.entries(files)) encoded[path] = bytes.toString('base64');
    return this.call<{ status: 'published' | 'pending'; version: number; signatures?: number; threshold?: number }>(
      'POST',
      `/api/v1/projects/${encodeURIComponent(project)}/uploads`,
      { metadata, files: encoded },
    );
  }
}
