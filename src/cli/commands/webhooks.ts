import { Command } from 'commander';
import { WEBHOOK_EVENT_TYPES } from '../../core/outbox.js';
import { checkAllow } from '../../server/keys.js';
import { openServerStore } from '../../server/server-store.js';
import { checkEvents, checkUrl, createEndpoint, publicEndpoint } from '../../server/webhooks/endpoints.js';
import { publicDelivery } from '../../server/webhooks/routes.js';
import type { DeliveryStatus } from '../../server/webhooks/store.js';
import { defaultStoreSpec } from '../../store/index.js';
import { table } from '../format.js';
import type { Cli } from '../runtime.js';
import { asUsage, collectList, NotFound, UsageError } from '../usage.js';
import { withServerStore } from './keys.js';

const STATUSES: DeliveryStatus[] = ['pending', 'delivered', 'dead'];
const when = (ms: number | null) => (ms === null ? '—' : new Date(ms).toISOString());

/** `baton webhooks add|list|remove|deliveries|redeliver` (README, "Webhooks"). */
export function webhooksCommand(cli: Cli): Command {
  const hooks = new Command('webhooks').description(
    'Webhook endpoints of `baton serve`: add, list, remove; the delivery log and redelivery',
  );
  hooks
    .command('add')
    .description('Register an endpoint and print its signing secret once')
    .argument('<url>', 'where events are POSTed (https://…)')
    .option('--events <types>', `comma-separated: ${WEBHOOK_EVENT_TYPES.join(', ')} (default: all)`)
    .option(
      '--allow <pattern>',
      "only connections matching: id glob or provider:NAME; repeatable (default '*')",
      collectList,
      [],
    )
    .option('--description <text>', 'a note shown by `baton webhooks list`')
    .addHelpText(
      'after',
      '\nExample:\n  baton webhooks add https://app.example.com/hooks/baton --events connection.refresh_failed,connection.revoked',
    )
    .action((url: string, opts: { events?: string; allow: string[]; description?: string }) => {
      // Flags are checked before the store opens: a bad value is a usage error and changes nothing.
      asUsage(() => checkUrl(url));
      asUsage(() => checkAllow(opts.allow.length > 0 ? opts.allow : ['*']));
      if (opts.events)
        asUsage(() =>
          checkEvents(
            opts.events
              ?.split(',')
              .map((e) => e.trim())
              .filter(Boolean),
          ),
        );
      return (
        // The secret is sealed under the store's secret key: this needs the key, like `connect`.
        cli.withBaton(async (baton) => {
          const spec = cli.config().store ?? defaultStoreSpec(cli.env);
          const store = await openServerStore(baton.store, spec);
          try {
            const { endpoint, secret } = await createEndpoint(store.webhooks, baton.sealer, {
              url,
              ...(opts.events
                ? {
                    events: opts.events
                      .split(',')
                      .map((e) => e.trim())
                      .filter(Boolean),
                  }
                : {}),
              allow: opts.allow,
              description: opts.description ?? null,
              createdBy: 'cli',
            });
            if (cli.json) return cli.printJson({ ...publicEndpoint(endpoint), secret });
            cli.print(secret);
            cli.note(
              `${cli.err.green('✓')} endpoint ${endpoint.id} → ${endpoint.url} (${endpoint.events.join(', ')}). The signing secret above is shown only now: give it to the receiver, which checks Baton-Signature with verifyWebhook().`,
            );
          } finally {
            await store.close();
          }
        })
      );
    });
  hooks
    .command('list')
    .description('List endpoints (never their secrets)')
    .action(() =>
      withServerStore(cli, async (store) => {
        const all = (await store.webhooks.listEndpoints()).map(publicEndpoint);
        if (cli.json) return cli.printJson(all);
        if (all.length === 0)
          return cli.print('No webhook endpoints. Add one with `baton webhooks add <url>`.');
        const rows = [['ID', 'URL', 'EVENTS', 'ALLOW', 'SECRET']];
        for (const e of all)
          rows.push([e.id, e.url, e.events.join(','), e.allow.join(' '), `${e.secretPrefix}…`]);
        cli.print(table(rows, cli.width));
      }),
    );
  hooks
    .command('remove')
    .description('Remove an endpoint and its deliveries')
    .argument('<id>', 'endpoint id (from `baton webhooks list`)')
    .action((id: string) =>
      withServerStore(cli, async (store) => {
        if (!(await store.webhooks.deleteEndpoint(id))) {
          throw new NotFound(
            `No webhook endpoint has the id "${id}".`,
            'See the ids with `baton webhooks list`.',
          );
        }
        if (cli.json) return cli.printJson({ id, removed: true });
        cli.print(`${cli.out.green('✓')} endpoint ${id} removed`);
      }),
    );
  hooks
    .command('deliveries')
    .description('The delivery log, newest first (--id for one delivery with every attempt)')
    .option('--id <delivery>', 'one delivery, with the log of its attempts')
    .option('--endpoint <id>', 'only this endpoint')
    .option('--event <id>', 'only this event')
    .option('--connection <id>', 'only this connection')
    .option('--status <status>', 'pending, delivered or dead')
    .option('--limit <n>', 'at most this many', '50')
    .addHelpText(
      'after',
      '\nExamples:\n  baton webhooks deliveries --status dead\n  baton webhooks deliveries --id dlv_…',
    )
    .action(
      (opts: {
        id?: string;
        endpoint?: string;
        event?: string;
        connection?: string;
        status?: string;
        limit: string;
      }) =>
        withServerStore(cli, async (store) => {
          const limit = Number(opts.limit);
          if (!Number.isInteger(limit) || limit < 1)
            throw new UsageError(`"${opts.limit}" is not a count.`, 'Pass --limit a positive integer.');
          if (opts.status !== undefined && !STATUSES.includes(opts.status as DeliveryStatus))
            throw new UsageError(
              `"${opts.status}" is not a delivery status.`,
              `Use one of: ${STATUSES.join(', ')}.`,
            );
          if (opts.id) {
            const d = await store.webhooks.getDelivery(opts.id);
            if (!d)
              throw new NotFound(
                `No delivery has the id "${opts.id}".`,
                'See them with `baton webhooks deliveries`.',
              );
            const log = await store.webhooks.attempts(d.id);
            if (cli.json) return cli.printJson({ ...publicDelivery(d), log });
            cli.print(
              `${d.id}  ${d.eventType}  ${d.connectionId}  ${d.status} after ${d.attempts} attempt(s)`,
            );
            const rows = [['#', 'AT', 'STATUS', 'MS', 'REPLICA', 'ERROR']];
            for (const a of log)
              rows.push([
                String(a.attempt),
                when(a.at),
                a.status === null ? '—' : String(a.status),
                String(a.durationMs),
                a.replica,
                a.error ?? '',
              ]);
            return cli.print(table(rows, cli.width));
          }
          const items = await store.webhooks.listDeliveries({
            ...(opts.endpoint ? { endpointId: opts.endpoint } : {}),
            ...(opts.event ? { eventId: opts.event } : {}),
            ...(opts.connection ? { connectionId: opts.connection } : {}),
            ...(opts.status ? { status: opts.status as DeliveryStatus } : {}),
            limit,
          });
          if (cli.json) return cli.printJson(items.map(publicDelivery));
          if (items.length === 0) return cli.print('No deliveries match.');
          const rows = [['DELIVERY', 'EVENT', 'TYPE', 'CONNECTION', 'STATUS', 'ATTEMPTS', 'LAST', 'NEXT']];
          for (const d of items)
            rows.push([
              d.id,
              d.eventId,
              d.eventType,
              d.connectionId,
              d.status,
              String(d.attempts),
              d.lastStatus !== null ? String(d.lastStatus) : (d.lastError ?? '—'),
              d.status === 'pending' ? when(d.nextAttemptAt) : '—',
            ]);
          cli.print(table(rows, cli.width));
        }),
    );
  hooks
    .command('redeliver')
    .description(
      'Deliver again now: a delivery id, or an event id for all its deliveries (a dead one is revived)',
    )
    .argument('<id>', 'dlv_… or evt_…')
    .action((id: string) =>
      withServerStore(cli, async (store) => {
        const again = await store.webhooks.redeliver(id, Date.now());
        if (again.length === 0)
          throw new NotFound(
            `No delivery or event has the id "${id}".`,
            'See them with `baton webhooks deliveries`.',
          );
        if (cli.json) return cli.printJson(again.map(publicDelivery));
        cli.print(
          `${cli.out.green('✓')} ${again.length} deliver${again.length === 1 ? 'y' : 'ies'} scheduled now; a running \`baton serve\` sends ${again.length === 1 ? 'it' : 'them'} within a second.`,
        );
      }),
    );
  return hooks;
}
