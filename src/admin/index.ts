/** `config-persistence/admin`: the admin HTTP server over a store. */
export { createAdminServer, type AdminServer, type AdminServerOptions } from './server.js';
