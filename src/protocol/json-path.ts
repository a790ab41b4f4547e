/**
 * The value at a dotted path (`authed_user.id`) in a parsed JSON answer. An array met on the
 * way — the answer itself included — stands for its first element. Undefined when the path
 * leads nowhere. Only own members are read.
 */
export function readPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (Array.isArray(current)) current = current[0];
    if (current === null || typeof current !== 'object') return undefined;
    if (!Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return Array.isArray(current) ? current[0] : current;
}
