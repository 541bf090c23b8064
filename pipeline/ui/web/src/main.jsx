// The operator UI: one page at a time under /ui, a header with the navigation, and the shortcuts.
// A page is an entry of PAGES; the pages that wait for their APIs are listed, disabled, with why.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Dialog } from './components.jsx';
import { can, MeContext, ROLE_SILENCE } from './me.jsx';
import { AlertsPage } from './pages/alerts.jsx';
import { HistoryPage, ReceiverPage, TimelinePage } from './pages/history.jsx';
import { SilenceEditPage } from './pages/silence-edit.jsx';
import { SilencesPage } from './pages/silences.jsx';
import { Link, navigate, takeFlash, UI_BASE, useRoute } from './router.jsx';
import { initialRefresh, REFRESH_CHOICES, RefreshContext, store } from './settings.jsx';
import './style.css';

const PAGES = [
  { id: 'alerts', title: 'Alerts', path: '/alerts', key: 'a' },
  { id: 'silences', title: 'Silences', path: '/silences', key: 's' },
  { id: 'incidents', title: 'Incidents', why: 'Incidents arrive with the incidents API (issue #15)' },
  { id: 'history', title: 'History', path: '/history', key: 'h' },
  { id: 'pipeline', title: 'Pipeline', why: 'Stage throughput, lag, the DLQ and reload arrive with their APIs (issues #12, #14)' },
];

const SILENCE_EDIT = /^\/silences\/([^/]+)\/edit$/;
const TIMELINE = /^\/history\/alerts\/([^/]+)$/;
const RECEIVER = /^\/history\/receivers\/([^/]+)$/;

/** A path segment decoded, or null when it is not valid percent-encoding (the page is then "not found"). */
function segment(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

function resolve(route) {
  const { path, query } = route;
  if (path === '/' || path === '/alerts') return { page: 'alerts', view: <AlertsPage query={query} /> };
  if (path === '/silences') return { page: 'silences', view: <SilencesPage query={query} /> };
  if (path === '/silences/new') return { page: 'silences', view: <SilenceEditPage query={query} /> };
  if (path === '/history') return { page: 'history', view: <HistoryPage query={query} /> };
  const timeline = TIMELINE.exec(path);
  const fingerprint = timeline && segment(timeline[1]);
  if (fingerprint) return { page: 'history', view: <TimelinePage fingerprint={fingerprint} query={query} /> };
  const receiver = RECEIVER.exec(path);
  const name = receiver && segment(receiver[1]);
  if (name) return { page: 'history', view: <ReceiverPage receiver={name} query={query} /> };
  const edit = SILENCE_EDIT.exec(path);
  if (edit) return { page: 'silences', view: <SilenceEditPage query={query} silenceId={decodeURIComponent(edit[1])} /> };
  return {
    page: null,
    view: (
      <section aria-labelledby="page-title">
        <h1 id="page-title">Page not found</h1>
        <p>
          There is no page at <code>{path}</code>. <Link to="/alerts">Go to the alerts</Link>.
        </p>
      </section>
    ),
  };
}

const SHORTCUTS = [
  ['/', 'focus the filter or search'],
  ['n', 'new silence'],
  ['a', 'alerts'],
  ['s', 'silences'],
  ['h', 'history'],
  ['r', 'refresh now'],
  ['?', 'this help'],
  ['Esc', 'close a dialog, revert the filter being typed'],
];

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

function App() {
  const route = useRoute();
  const [me, setMe] = useState({ roles: [], loaded: false, error: null });
  const [refresh, setRefresh] = useState(initialRefresh);
  const [help, setHelp] = useState(false);
  const [toast, setToast] = useState(null);

  useEffect(() => {
    api.ui('/api/me').then(
      (answer) => setMe({ roles: Array.isArray(answer.roles) ? answer.roles : [], loaded: true, error: null }),
      (error) => setMe({ roles: [], loaded: true, error }),
    );
  }, []);

  useEffect(() => {
    const message = takeFlash();
    setToast(message);
    if (!message) return undefined;
    const timer = setTimeout(() => setToast(null), 6000);
    return () => clearTimeout(timer);
  }, [route.sequence]);

  useEffect(() => {
    const onKey = (event) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      if (document.querySelector('dialog[open]')) return;
      const page = PAGES.find((p) => p.key === event.key && p.path);
      if (event.key === '/') {
        const filter = document.getElementById('filter');
        if (filter) {
          event.preventDefault();
          filter.focus();
          filter.select();
        }
      } else if (event.key === 'n' && can(me, ROLE_SILENCE)) {
        navigate('/silences/new');
      } else if (event.key === 'r') {
        window.dispatchEvent(new Event('ui:refresh'));
      } else if (event.key === '?') {
        setHelp(true);
      } else if (page) {
        navigate(page.path);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [me]);

  // After a navigation, focus the new page's content (not the link that is gone), as a page load would.
  useEffect(() => {
    if (route.sequence > 0) document.getElementById('main')?.focus({ preventScroll: true });
  }, [route.sequence]);

  const { page, view } = resolve(route);
  useEffect(() => {
    const title = PAGES.find((p) => p.id === page)?.title;
    document.title = title ? `${title} · alert-pipeline` : 'alert-pipeline';
  }, [page]);

  return (
    <MeContext.Provider value={me}>
      <RefreshContext.Provider value={refresh}>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="topbar">
          <Link to="/alerts" class="brand">
            alert-pipeline
          </Link>
          <nav aria-label="Pages">
            <ul>
              {PAGES.map((p) => (
                <li key={p.id}>
                  {p.path ? (
                    <Link to={p.path} aria-current={p.id === page ? 'page' : undefined} title={`${p.title} (${p.key})`}>
                      {p.title}
                    </Link>
                  ) : (
                    <a class="disabled-link" role="link" aria-disabled="true" title={p.why}>
                      {p.title}
                    </a>
                  )}
                </li>
              ))}
            </ul>
          </nav>
          <div class="topbar-tools">
            {me.loaded && !can(me, ROLE_SILENCE) && (
              <span class="badge badge-readonly" title={`Your roles: ${me.roles.join(', ') || 'none'}`}>
                read-only
              </span>
            )}
            <label class="refresh">
              <span>Refresh</span>
              <select
                value={refresh}
                onChange={(e) => {
                  const value = Number(e.currentTarget.value);
                  setRefresh(value);
                  store('ui.refresh', String(value));
                }}
              >
                {REFRESH_CHOICES.map(([ms, label]) => (
                  <option key={ms} value={ms}>
                    {label}
                  </option>
                ))}
              </select>
            </label>
            {can(me, ROLE_SILENCE) && (
              <Link class="button primary small" to="/silences/new" title="New silence (n)">
                New silence
              </Link>
            )}
            <button type="button" class="small" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" onClick={() => setHelp(true)}>
              ?
            </button>
          </div>
        </header>
        {me.error && (
          <p class="error-note banner" role="alert">
            Could not read your roles ({me.error.message}): write actions are hidden.
          </p>
        )}
        {toast && (
          <p class="toast" role="status">
            {toast}
          </p>
        )}
        <main id="main" tabIndex={-1}>
          <div key={route.sequence}>{view}</div>
        </main>
        <Dialog open={help} id="help-dialog" title="Keyboard shortcuts" onClose={() => setHelp(false)}>
          <dl class="shortcuts">
            {SHORTCUTS.map(([key, what]) => (
              <div key={key}>
                <dt>
                  <kbd>{key}</kbd>
                </dt>
                <dd>{what}</dd>
              </div>
            ))}
          </dl>
          <div class="dialog-actions">
            <button type="button" onClick={() => setHelp(false)}>
              Close
            </button>
          </div>
        </Dialog>
      </RefreshContext.Provider>
    </MeContext.Provider>
  );
}

// The UI's root shows the alerts: say so in the address bar before the first render.
if (window.location.pathname.replace(/\/+$/, '') === UI_BASE) {
  window.history.replaceState(null, '', `${UI_BASE}/alerts${window.location.search}`);
}
render(<App />, document.getElementById('app'));
