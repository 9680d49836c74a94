import { WS_PATH } from '../protocol/constants.js';
import { usageError } from './cli-error.js';

const DEFAULT_URL = 'http://localhost:3002';

/** The server's base URL from --url, $LIVETAIL_URL or the default; only http(s). */
export function serverUrl(given: string | undefined, env: NodeJS.ProcessEnv): URL {
  const value = given ?? env.LIVETAIL_URL ?? DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usageError(`--url ${JSON.stringify(value)} is not a URL (expected e.g. ${DEFAULT_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`--url must be http:// or https:// (got ${url.protocol}); the WebSocket URL is derived from it`);
  }
  return url;
}

/** ws(s)://host/ws for an http(s) server URL. */
export function socketUrl(server: URL): string {
  const ws = new URL(server);
  ws.protocol = server.protocol === 'https:' ? 'wss:' : 'ws:';
  ws.pathname = `${basePath(server)}${WS_PATH}`;
  ws.search = '';
  ws.hash = '';
  return ws.toString();
}

/** `server` + path, keeping any base path the server is mounted under. */
export function endpoint(server: URL, path: string): string {
  return `${server.origin}${basePath(server)}${path}`;
}

/** '' for http://host:3002 or http://host:3002/, '/livetail' for http://host/livetail/. */
function basePath(server: URL): string {
  return server.pathname.replace(/\/+$/, '');
}
