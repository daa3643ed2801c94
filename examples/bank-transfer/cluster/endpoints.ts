/** Host and port of what a part connects to, and URLs rewritten to reach it by another (a fault proxy). */

export interface Endpoint {
  host: string;
  port: number;
}

/** The host and port of a URL. */
export function hostPort(url: string): Endpoint {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

/** `url` reaching `endpoint` instead, with `path` as its path if given. */
export function withEndpoint(url: string, endpoint: Endpoint, path?: string): string {
  const parsed = new URL(url);
  parsed.hostname = endpoint.host;
  parsed.port = String(endpoint.port);
  if (path !== undefined) parsed.pathname = path;
  return parsed.toString().replace(/\/$/, '');
}
