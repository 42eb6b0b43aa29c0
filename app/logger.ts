import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger } from 'pino';

/** Request-scoped context: every log line written while handling a request carries its id. */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

export interface LoggerOptions {
  level: string;
  pretty?: boolean | undefined;
}

export function createLogger({ level, pretty }: LoggerOptions): Logger {
  const usePretty = pretty ?? (process.stdout.isTTY === true && process.env.NODE_ENV !== 'production');
  return pino({
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
  });
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
