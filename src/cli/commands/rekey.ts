import type { RekeyResult } from '../../core/rekey.js';
import { SecretKeyError } from '../../errors.js';
import { table } from '../format.js';
import type { Cli } from '../runtime.js';
import { UsageError } from '../usage.js';

const n = (x: number) => x.toLocaleString('en-US');

/**
 * `baton rekey`: every row re-sealed under the current key, online, in batches, with a
 * progress line on a terminal; Ctrl-C stops after the batch in flight. It fails (exit 1)
 * unless the final check finds nothing sealed under another key.
 */
export async function rekeyCommand(cli: Cli, opts: { batchSize?: string; check?: boolean }): Promise<void> {
  let batchSize: number | undefined;
  if (opts.batchSize !== undefined) {
    batchSize = Number(opts.batchSize);
    if (!/^\d+$/.test(opts.batchSize.trim()) || !Number.isSafeInteger(batchSize) || batchSize < 1)
      throw new UsageError(
        `--batch-size ${opts.batchSize} is not a positive whole number.`,
        'Use e.g. --batch-size 1000.',
      );
  }
  await cli.withBaton(async (baton) => {
    if (opts.check) {
      const state = await baton.keys();
      if (cli.json) return cli.printJson(state);
      const rows = [['KEY', 'CONNECTIONS', 'PENDING', 'LOADED', '']];
      for (const k of state.inUse)
        rows.push([
          k.keyId,
          n(k.connections),
          n(k.pendingAuthorizations),
          k.loaded ? 'yes' : cli.out.red('no'),
          k.keyId === state.current ? 'current' : '',
        ]);
      if (state.inUse.length === 0)
        return cli.print(`Nothing is sealed yet; the current key is ${state.current}.`);
      cli.print(table(rows, cli.width));
      const others = state.inUse.filter((k) => k.keyId !== state.current);
      if (others.length > 0)
        cli.note(`Run \`baton rekey\` to re-seal the rows under ${others.map((k) => k.keyId).join(', ')}.`);
      return;
    }
    const stop = new AbortController();
    const interrupt = () => stop.abort();
    process.once('SIGINT', interrupt);
    const line = !cli.json && cli.stderr.isTTY;
    let result: RekeyResult;
    try {
      result = await baton.rekey({
        ...(batchSize ? { batchSize } : {}),
        signal: stop.signal,
        onProgress(p) {
          if (line)
            cli.stderr.write(
              `\r\u001b[K${n(p.done)} of ${n(p.total)} re-sealed or checked (key ${p.keyId})…`,
            );
        },
      });
    } finally {
      process.off('SIGINT', interrupt);
      if (line) cli.stderr.write('\r\u001b[K');
    }
    const rows = result.rekeyed + result.pendingRekeyed;
    const rate = result.durationMs > 0 ? Math.round(rows / (result.durationMs / 1000)) : 0;
    if (cli.json) cli.printJson({ ...result, interrupted: stop.signal.aborted });
    else if (rows === 0 && result.verified)
      cli.print(`${cli.out.green('✓')} Everything is already sealed under key ${result.keyId}.`);
    else
      cli.print(
        `${result.verified ? cli.out.green('✓') : cli.out.yellow('!')} ${n(result.rekeyed)} connection(s) and ${n(result.pendingRekeyed)} pending authorization(s) re-sealed under key ${result.keyId} in ${(result.durationMs / 1000).toFixed(1)} s (${n(rate)} rows/s)${result.verified ? '; nothing is left under another key.' : '.'}`,
      );
    if (result.verified) return;
    if (!cli.json)
      for (const f of result.failed.slice(0, 10))
        cli.note(
          `  ${f.kind === 'connection' ? 'connection' : 'pending authorization of'} ${f.id}: ${f.message}`,
        );
    if (!cli.json && result.failed.length > 10) cli.note(`  … and ${result.failed.length - 10} more.`);
    const left = result.remaining
      .map((k) => `${k.keyId} (${n(k.connections)} connection(s), ${n(k.pendingAuthorizations)} pending)`)
      .join(', ');
    if (stop.signal.aborted)
      throw new SecretKeyError(`Interrupted; still sealed under another key: ${left}.`, {
        remediation: 'Run `baton rekey` again: it goes on with what is left.',
      });
    const missing = result.failed.find((f) => /not loaded/.test(f.message))?.keyId;
    throw new SecretKeyError(`Not everything could be re-sealed; still under another key: ${left}.`, {
      remediation: missing
        ? `Load key ${missing} in BATON_SECRET_KEY_PREVIOUS and run \`baton rekey\` again, or remove those connections (\`baton remove <id>\`).`
        : 'The rows listed above were altered or belong to another configuration: authorize them again (`baton reconnect <id>`) or remove them, then run `baton rekey` again.',
    });
  });
}
