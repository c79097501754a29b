/**
 * The logging surface the server's parts write to: two levels of plain
 * messages, and, where the logger can (pino's `child`), loggers that stamp
 * fields on every line. A stream's parts log through a child carrying its
 * key and id, so an operator can follow one stream through the JSON logs
 * (`jq 'select(.streamId == "…")'`) without parsing messages.
 *
 * Secrets (bearer tokens, RTMP publish secrets) never reach a logger: they
 * are checked where they arrive and dropped (see `secrets.ts`).
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  child?(bindings: Record<string, string>): Logger;
}

/**
 * A logger whose every line carries `bindings`: pino's child when there is
 * one; otherwise the fields are written in front of the message, so plain
 * loggers (tests, stderr) still say which stream a line is about.
 */
export function childLogger(parent: Logger, bindings: Record<string, string>): Logger {
  if (typeof parent.child === 'function') return parent.child(bindings);
  const prefix = Object.entries(bindings)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  return {
    info: (message) => parent.info(`[${prefix}] ${message}`),
    warn: (message) => parent.warn(`[${prefix}] ${message}`),
    child: (more) => childLogger(parent, { ...bindings, ...more }),
  };
}
