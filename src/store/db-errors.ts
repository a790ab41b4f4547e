/**
 * The common PostgreSQL and SQLite failures as sentences: what is wrong, and what to do. The
 * raw SQLSTATE or SQLite code stays in the message, in brackets, for a search; the remediation
 * is for the person reading it. `cliRemediation` is the same fix said for the `baton` command
 * line (--store / BATON_STORE), where the library's speaks of the store option.
 */
export interface DbFailure {
  /** Completes "The … store at X could not <op>: ___." */
  what: string;
  remediation: string;
  cliRemediation: string;
}

const both = (fix: (where: string) => string) => ({
  remediation: fix('the store URL'),
  cliRemediation: fix('--store (or BATON_STORE)'),
});

/** PostgreSQL: SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html) or a socket error. */
export function postgresFailure(code: string | undefined, hostPort: string): DbFailure | undefined {
  switch (code) {
    case '28000':
    case '28P01':
      return {
        what: 'the server refused the user name or password',
        ...both(
          (w) =>
            `Check the user and password in ${w}, written postgres://user:password@host/db; the user must exist and pg_hba.conf must let it in from this host.`,
        ),
      };
    case '3D000':
      return {
        what: 'the database it names does not exist',
        ...both((w) => `Create the database (createdb <name>), or fix the database name at the end of ${w}.`),
      };
    case '42501':
      return {
        what: 'the user lacks a permission on the database or schema (tables are created on first use)',
        ...both(
          (w) =>
            `Grant the user in ${w} USAGE and CREATE on the schema (GRANT USAGE, CREATE ON SCHEMA … TO …), or connect as the schema's owner.`,
        ),
      };
    case '53100':
      return {
        what: "the database server's disk is full",
        ...both(() => 'Free disk space on the database server; nothing stored was lost.'),
      };
    case '53300':
      return {
        what: 'the server has no connection slot left',
        ...both((w) => `Lower pool_max in ${w} (e.g. ?pool_max=5), or raise max_connections on the server.`),
      };
    case 'ECONNREFUSED':
      return {
        what: `the server is unreachable: nothing accepts connections at ${hostPort}`,
        ...both(
          (w) =>
            `Start PostgreSQL, or fix the host and port in ${w}; once it is reachable Baton carries on (new tokens are kept in memory meanwhile).`,
        ),
      };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return {
        what: `the host of ${hostPort} is not found (DNS)`,
        ...both((w) => `Fix the host name in ${w}, or check this machine's DNS.`),
      };
    default:
      return undefined;
  }
}

/** SQLite (better-sqlite3's SQLITE_* codes) and the file system errors of opening its file. */
export function sqliteFailure(code: string | undefined, path: string): DbFailure | undefined {
  const c = code ?? '';
  if (
    c === 'SQLITE_CANTOPEN' ||
    c === 'EACCES' ||
    c === 'EPERM' ||
    c === 'ENOTDIR' ||
    c === 'EROFS' ||
    c === 'EEXIST'
  )
    return {
      what: `the file cannot be opened or created there (its directory is missing, is not a directory, or is not writable by this user)`,
      ...both(
        (w) =>
          `Make the directory of ${path} exist and be writable by this user, or point ${w} at another file.`,
      ),
    };
  if (c === 'SQLITE_NOTADB')
    return {
      what: 'the file is not a SQLite database',
      ...both((w) => `Point ${w} at Baton's database file; if this is it, restore it from a backup.`),
    };
  if (c.startsWith('SQLITE_CORRUPT'))
    return {
      what: 'the database file is damaged',
      ...both(
        () =>
          `Restore ${path} from a backup (\`sqlite3 ${path} .recover\` may save the rows); stop other programs writing to it.`,
      ),
    };
  if (c.startsWith('SQLITE_READONLY'))
    return {
      what: 'the file is read-only for this user',
      ...both(
        () =>
          `Make ${path} and its directory writable by this user (SQLite creates the -wal and -shm files beside it).`,
      ),
    };
  if (c === 'SQLITE_FULL' || c === 'ENOSPC')
    return {
      what: 'the disk is full',
      ...both(() => 'Free disk space; nothing stored was lost.'),
    };
  return undefined;
}
