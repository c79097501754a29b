/** An input problem the user can act on; its message is one line naming the problem. */
export class InputError extends Error {
  override name = 'InputError';
}

/** An output that could not be written (a path, a muxer, an encoder); its message names the problem. */
export class OutputError extends Error {
  override name = 'OutputError';
}

/** The message of anything thrown: an Error's message, anything else as a string. The one way the code turns a caught value into text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
