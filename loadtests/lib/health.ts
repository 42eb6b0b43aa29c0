import http from 'k6/http';
import exec from 'k6/execution';
import { TARGET } from './env.ts';

/** setup() calls this first: a target that is not ready, or not healthy, is refused. */
export function requireHealthyTarget(): void {
  const ready = http.get(`${TARGET}/ready`, { tags: { name: 'GET /ready (setup)' } });
  const health = http.get(`${TARGET}/health`, { tags: { name: 'GET /health (setup)' } });
  let status = 'unreachable';
  try {
    status = String((health.json() as { status?: string }).status);
  } catch {
    // not JSON: reported below
  }
  if (ready.status !== 200 || status !== 'healthy')
    exec.test.abort(
      `target ${TARGET} is not healthy (ready ${ready.status}, health ${status}): refusing to run`,
    );
}
