/** The scenarios suite against the production backend over a real etcd (one member). */
import { useBackend } from '../helpers/http.js';

useBackend('etcd');
await import('../http/scenarios.test.js');
