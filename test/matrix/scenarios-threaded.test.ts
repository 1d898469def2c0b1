/** The scenarios suite against the production backend: owner thread, reader pool, answer cache. */
import { useBackend } from '../helpers/http.js';

useBackend('threaded');
await import('../http/scenarios.test.js');
