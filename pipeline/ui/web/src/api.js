// The HTTP APIs the bridge serves, as the UI calls them: same origin, credentials included (basic
// auth or a session cookie of the deployment's authentication travel as with any request).
import { API_BASE, UI_BASE } from './router.jsx';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

/** The text of an error answer: Alertmanager's plain JSON string, go-openapi's {code, message}, the
 * bridge's {error, detail}, or the status line. */
export function errorText(status, body, statusText = '') {
  if (typeof body === 'string' && body) return body;
  if (body && typeof body === 'object') {
    if (typeof body.message === 'string') return body.message;
    if (typeof body.detail === 'string') return body.detail;
    if (typeof body.error === 'string') return body.error;
  }
  if (status === 401) return 'not signed in (HTTP 401)';
  if (status === 403) return 'your roles do not allow this (HTTP 403)';
  return `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

async function request(method, url, { params, body, signal } = {}) {
  let response;
  try {
    response = await fetch(url + query(params), {
      method,
      signal,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, `the bridge does not answer (${error.message})`, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) throw new ApiError(response.status, errorText(response.status, data, response.statusText), data);
  return data;
}

export const api = {
  get: (path, params, signal) => request('GET', API_BASE + path, { params, signal }),
  post: (path, body) => request('POST', API_BASE + path, { body }),
  delete: (path) => request('DELETE', API_BASE + path),
  /** The UI's own endpoints, under its base path. */
  ui: (path, signal) => request('GET', UI_BASE + path, { signal }),
};

/** A request whose failure is not the page's: its answer, or `fallback` (an abort still aborts). */
export async function optional(promise, fallback) {
  try {
    return await promise;
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    return fallback;
  }
}
