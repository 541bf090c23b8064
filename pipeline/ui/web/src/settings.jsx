// Preferences kept in the browser (localStorage): the refresh interval and the silence author.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export const REFRESH_CHOICES = [
  [0, 'off'],
  [5000, '5s'],
  [10000, '10s'],
  [30000, '30s'],
  [60000, '1m'],
];
const DEFAULT_REFRESH = 10000;

function stored(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null; // storage disabled: preferences last for the page only
  }
}

export function store(key, value) {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    /* see stored() */
  }
}

export function initialRefresh() {
  const value = Number(stored('ui.refresh'));
  return REFRESH_CHOICES.some(([ms]) => ms === value) && stored('ui.refresh') !== null ? value : DEFAULT_REFRESH;
}

export function storedAuthor() {
  return stored('ui.author') || '';
}

export const RefreshContext = createContext(DEFAULT_REFRESH);

export function useRefresh() {
  return useContext(RefreshContext);
}
