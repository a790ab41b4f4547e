import { ConfigError } from '../errors.js';

/** The longest connection id Baton stores (README, "Input rules"). */
export const MAX_ID_LENGTH = 200;

/**
 * Characters no stored text may hold: C0 and C1 control characters (NUL among them, which
 * PostgreSQL refuses with SQLSTATE 22021 and SQLite stores silently) and lone UTF-16
 * surrogates, which no UTF-8 column can keep as sent.
 */
export const UNSTORABLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
  /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Every control character of a text (C0, DEL, C1), for replacing. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds.
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

/** Whether an id is one Baton could have stored: 1–200 characters, none of them unstorable. */
export function isUsableId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH && !UNSTORABLE.test(id);
}

/**
 * Refuses a connection id before anything is stored under it, the same way on every store
 * engine (README, "Input rules").
 */
export function checkConnectionId(id: unknown): string {
  if (!isUsableId(id)) {
    throw new ConfigError(
      typeof id !== 'string' || id.length === 0
        ? 'A connection id must be a non-empty string.'
        : id.length > MAX_ID_LENGTH
          ? `A connection id is at most ${MAX_ID_LENGTH} characters; this one has ${id.length}.`
          : 'The connection id contains a control character (or a broken UTF-16 surrogate), which no store can keep.',
      `Use up to ${MAX_ID_LENGTH} printable characters, e.g. letters, digits, . _ - : @.`,
    );
  }
  return id;
}
