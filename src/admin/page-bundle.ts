/**
 * The built web page. In the sources it is not there; scripts/bundle.mjs replaces this module with
 * the page's JavaScript and CSS (bundled from src/admin/page/ for the browser), so they ship inside
 * the package's own code: only ./page.ts imports it, so only its chunk carries them.
 */
export const PAGE: { js: string; css: string } | undefined = undefined;
