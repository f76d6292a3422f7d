/**
 * The bearer token: `serve` prints the page's URL as `…/#token=<token>`. The fragment never reaches
 * the server or its logs; the page moves it to `sessionStorage` (this tab only) and takes it out of
 * the address bar, so it is not bookmarked, shared or kept in the history.
 */
const KEY = 'config-persistence.token';

/** The token from the fragment (moved into sessionStorage) or from an earlier load of this tab. */
export function takeToken(): string | undefined {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(KEY, fromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY) ?? undefined;
}

/** Keeps a token typed into the page. */
export function keepToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

/** Forgets the token (the server refused it). */
export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
