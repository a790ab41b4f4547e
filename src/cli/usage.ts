import { ConfigError } from '../errors.js';

/** A usage error: exit 2 with the message and what to type instead. */
export class UsageError extends ConfigError {
  constructor(message: string, remediation: string) {
    super(message, remediation);
    Object.defineProperty(this, 'code', { value: 'usage_error', enumerable: true });
  }
}

/** Collects repeatable `--param k=v` flags. */
export function collectPairs(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0)
    throw new UsageError(`"${value}" is not of the form key=value.`, 'Write it as --param company=acme.');
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
