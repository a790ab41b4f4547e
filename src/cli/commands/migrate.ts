import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describeStore, openStore } from '../../store/index.js';
import { migrateStore } from '../../store/migrate.js';
import { checkStoreFlag } from '../config.js';
import { Cli } from '../runtime.js';
import { UsageError } from '../usage.js';

interface Checkpoint {
  /** The last id of the last batch stored: the next run starts after it. */
  after: string;
  copied: number;
  skipped: number;
  at: number;
}

/**
 * Where an interrupted copy from one store to another left off: a file in the data directory
 * named by a hash of the two specs (which may hold passwords: they are not written).
 */
function checkpointPath(dataDir: string, from: string, to: string): string {
  const digest = createHash('sha256').update(`${from.trim()}\n${to.trim()}`).digest('hex').slice(0, 16);
  return join(dataDir, 'migrate', `${digest}.json`);
}

function readCheckpoint(path: string): Checkpoint | null {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as Partial<Checkpoint>;
    return typeof c.after === 'string' && typeof c.copied === 'number' && typeof c.skipped === 'number'
      ? (c as Checkpoint)
      : null;
  } catch {
    return null;
  }
}

function writeCheckpoint(path: string, c: Checkpoint): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(c), { mode: 0o600 });
  renameSync(tmp, path);
}

export async function migrate(
  cli: Cli,
  opts: { from: string; to: string; overwrite?: boolean; batchSize?: string; restart?: boolean },
): Promise<void> {
  checkStoreFlag('--from', opts.from);
  checkStoreFlag('--to', opts.to);
  let batchSize: number | undefined;
  if (opts.batchSize !== undefined) {
    batchSize = Number(opts.batchSize);
    if (!/^\d+$/.test(opts.batchSize.trim()) || !Number.isSafeInteger(batchSize) || batchSize < 1)
      throw new UsageError(
        `--batch-size ${opts.batchSize} is not a positive whole number.`,
        'Use e.g. --batch-size 1000.',
      );
  }
  // Copying from a store that does not exist would create it and report "0 copied".
  const fromPath = Cli.sqlitePath(opts.from);
  if (fromPath && !existsSync(fromPath)) {
    throw new UsageError(
      `--from ${opts.from}: the store does not exist; nothing was copied or created.`,
      'Check the path of the source store (sqlite:<path> of an existing file, or a postgres:// URL).',
    );
  }
  if (opts.from.trim() === 'memory:' || opts.from.trim() === 'memory')
    throw new UsageError(
      '--from memory: is always empty.',
      'Copy from a SQLite file or a PostgreSQL database.',
    );
  const checkpoint = checkpointPath(await cli.dataDir(), opts.from, opts.to);
  if (opts.restart) rmSync(checkpoint, { force: true });
  const resume = readCheckpoint(checkpoint);
  const from = await openStore(opts.from, { env: cli.env });
  try {
    const to = await openStore(opts.to, { env: cli.env });
    try {
      if (resume && !cli.json)
        cli.note(
          `Resuming after ${resume.after}, where an interrupted run stopped (${resume.copied} copied then); --restart starts over.`,
        );
      const progressLine = !cli.json && cli.stderr.isTTY;
      let lastDone = 0;
      const result = await migrateStore(from, to, {
        ...(opts.overwrite ? { overwrite: true } : {}),
        ...(batchSize ? { batchSize } : {}),
        ...(resume ? { after: resume.after } : {}),
        onProgress(done, total, lastId, counts) {
          // The batch is stored: a run interrupted from here resumes after it.
          writeCheckpoint(checkpoint, {
            after: lastId,
            copied: (resume?.copied ?? 0) + counts.copied,
            skipped: (resume?.skipped ?? 0) + counts.skipped,
            at: Date.now(),
          });
          lastDone = done;
          if (progressLine)
            cli.stderr.write(
              `\r\u001b[K${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} copied or checked…`,
            );
        },
      });
      if (progressLine && lastDone > 0) cli.stderr.write('\r\u001b[K');
      rmSync(checkpoint, { force: true });
      const copied = result.copied + (resume?.copied ?? 0);
      const skipped = result.skipped + (resume?.skipped ?? 0);
      if (cli.json)
        return cli.printJson({
          from: describeStore(opts.from),
          to: describeStore(opts.to),
          copied,
          skipped,
          ...(resume ? { resumedAfter: resume.after } : {}),
        });
      cli.print(
        `${cli.out.green('✓')} ${copied} copied, ${skipped} already there — ${describeStore(opts.from)} → ${describeStore(opts.to)}`,
      );
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}
