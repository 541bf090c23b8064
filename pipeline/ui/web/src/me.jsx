// Who is looking: the caller's roles from GET /ui/api/me. Write controls render only for a caller
// whose roles include the one the endpoint behind them requires (the API enforces it regardless).
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export const ROLE_SILENCE = 'silence';

export const MeContext = createContext({ roles: [], loaded: false, error: null });

export function useMe() {
  return useContext(MeContext);
}

export function can(me, role) {
  return me.roles.includes(role);
}
