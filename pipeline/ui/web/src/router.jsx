// Client-side routing under the UI's base path (/ui by default; the server writes the real one into
// <meta name="ui-base">, so the UI also works behind a reverse proxy that adds a prefix).
import { useEffect, useState } from 'preact/hooks';

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';

export const UI_BASE = meta('ui-base') || '/ui';
export const API_BASE = meta('api-base');

const listeners = new Set();
let sequence = 0;
let flash = null;

function read() {
  const { pathname, search } = window.location;
  const inside = pathname.startsWith(UI_BASE) ? pathname.slice(UI_BASE.length) : pathname;
  return { path: inside.replace(/\/+$/, '') || '/', query: new URLSearchParams(search), sequence };
}

function changed() {
  sequence += 1;
  const route = read();
  for (const listener of listeners) listener(route);
}

window.addEventListener('popstate', changed);

/** Go to a UI path ("/silences?q=x"); ``message`` is shown once on the next page (a toast). */
export function navigate(to, { replace = false, message = null } = {}) {
  flash = message;
  window.history[replace ? 'replaceState' : 'pushState'](null, '', UI_BASE + to);
  changed();
  window.scrollTo(0, 0);
}

/** Mirror a page's own state in the query string without a navigation (no remount, no history entry). */
export function replaceQuery(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((v) => query.append(key, v));
    else if (value !== null && value !== undefined && value !== '') query.set(key, String(value));
  }
  const search = query.toString();
  const url = window.location.pathname + (search ? `?${search}` : '');
  if (url !== window.location.pathname + window.location.search) window.history.replaceState(null, '', url);
}

export function takeFlash() {
  const message = flash;
  flash = null;
  return message;
}

export function useRoute() {
  const [route, setRoute] = useState(read);
  useEffect(() => {
    listeners.add(setRoute);
    return () => listeners.delete(setRoute);
  }, []);
  return route;
}

export function href(to) {
  return UI_BASE + to;
}

/** An <a> that navigates inside the app on a plain click (new tab, middle click etc. work as links do). */
export function Link({ to, children, ...props }) {
  const onClick = (event) => {
    props.onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return <a {...props} href={href(to)} onClick={onClick}>{children}</a>;
}
