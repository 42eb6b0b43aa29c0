import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger, type LoggerOptions as PinoOptions } from 'pino';

/** Request-scoped context: every log line written while handling a request carries its id. */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

export interface LoggerOptions {
  level: string;
  pretty?: boolean | undefined;
}

/**
 * Standard output as every logger of this process writes to it: one stream, so lines keep their
 * order and never interleave, buffered and written in blocks (once 4 kB wait, else every 200 ms),
 * not one write per line: the access line of each write request was a write system call of its
 * own (with the redaction access lines skip, see access-log.ts: 16-21 µs of CPU a line, 7 µs
 * without both, one line per event-loop turn to /dev/null on this 2-core machine). pino flushes
 * it synchronously when the process exits (process.exit included), and exitOnUncaught flushes it
 * before exiting; a line can be lost only if the process is killed outright (SIGKILL), as the
 * last 200 ms of it.
 */
let stdout: ReturnType<typeof pino.destination> | undefined;
export const LOG_FLUSH_MS = 200;
function bufferedStdout() {
  stdout ??= pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: LOG_FLUSH_MS });
  return stdout;
}

export function createLogger({ level, pretty }: LoggerOptions): Logger {
  const usePretty = pretty ?? (process.stdout.isTTY === true && process.env.NODE_ENV !== 'production');
  const options: PinoOptions = {
    level,
    base: { service: 'ainp-broker' },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin() {
      const store = requestContext.getStore();
      return store ? { request_id: store.requestId } : {};
    },
    // Credentials never reach the logs, whatever a caller sends.
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'req.headers.cookie',
        'req.headers["x-ainp-signature"]',
        '*.password',
        '*.key',
        '*.token',
      ],
      censor: '[redacted]',
    },
    ...(usePretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } }
      : {}),
  };
  return usePretty ? pino(options) : pino(options, bufferedStdout());
}

/**
 * An error nothing caught leaves the process in a state nobody reasoned about (a half-done
 * transaction, a timer that never fires again): log it at fatal and exit non-zero, so Kubernetes
 * (or the developer) starts a clean process instead of one that limps on.
 */
export function exitOnUncaught(
  logger: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  const die = (err: unknown, what: string) => {
    logger.fatal({ err }, what);
    logger.flush(() => exit(1));
  };
  process.on('unhandledRejection', (reason) => die(reason, 'unhandled promise rejection: exiting'));
  process.on('uncaughtException', (err) => die(err, 'uncaught exception: exiting'));
}
