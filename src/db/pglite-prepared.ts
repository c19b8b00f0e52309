/**
 * Named prepared statements on PGlite. PGlite's query() sends every statement as an unnamed one, so
 * PostgreSQL parses and plans it again on each call. Here a statement is parsed once per PGlite
 * instance, and each call sends Bind, Describe, Execute and Sync, as node-postgres does for a named
 * query. PostgreSQL then plans it from its plan cache. Parameters are serialized and rows parsed with the
 * instance's own serializers and parsers, so values come back as they would from query().
 */
import { parse, protocol, type PGlite } from '@electric-sql/pglite';
import { getPGliteInstance } from 'typeorm-pglite';

type BackendMessage = Parameters<typeof parse.parseResults>[0][number];

/**
 * The part of PGlite used here. typeorm-pglite loads PGlite's CommonJS build, whose class TypeScript
 * treats as another type than the ES module's PGlite, so the instance is typed by its members.
 */
type PgliteSession = Pick<PGlite, 'execProtocol' | 'runExclusive' | 'serializers' | 'parsers'>;

/** Parameter type OIDs of each statement already parsed, per PGlite instance. */
const preparedStatements = new WeakMap<PgliteSession, Map<string, number[]>>();

/**
 * Runs a named prepared statement on the process's PGlite instance and returns its rows. Errors are
 * PGlite's DatabaseError, with the SQLSTATE in `code`.
 */
export async function queryPreparedOnPglite<T>(name: string, sql: string, parameters: unknown[]): Promise<T[]> {
  const pglite: PgliteSession = await getPGliteInstance();
  return pglite.runExclusive(async () => {
    const parameterTypes = await prepare(pglite, name, sql);
    const values = parameters.map((value, index) => serializeParameter(pglite, parameterTypes[index], value));
    const messages = await exchange(pglite, [
      protocol.serialize.bind({ statement: name, values }),
      protocol.serialize.describe({ type: 'P' }),
      protocol.serialize.execute({}),
    ]);
    const [result] = parse.parseResults(messages, pglite.parsers);
    return (result?.rows ?? []) as T[];
  });
}

/** Parses the statement on the first call for this instance and returns its parameter type OIDs. */
async function prepare(pglite: PgliteSession, name: string, sql: string): Promise<number[]> {
  let statements = preparedStatements.get(pglite);
  if (!statements) {
    statements = new Map();
    preparedStatements.set(pglite, statements);
  }
  const known = statements.get(name);
  if (known) return known;

  const messages = await exchange(pglite, [protocol.serialize.parse({ name, text: sql }), protocol.serialize.describe({ type: 'S', name })]);
  const description = messages.find((message) => message.name === 'parameterDescription') as { dataTypeIDs?: number[] } | undefined;
  if (!description?.dataTypeIDs) throw new Error(`PGlite returned no parameter description for the prepared statement ${name}`);
  statements.set(name, description.dataTypeIDs);
  return description.dataTypeIDs;
}

/**
 * Sends the messages one by one and then Sync, which ends the extended-query cycle even after an error,
 * and returns every backend message. The first error is thrown after the Sync.
 */
async function exchange(pglite: PgliteSession, requests: Uint8Array[]): Promise<BackendMessage[]> {
  const messages: BackendMessage[] = [];
  try {
    for (const request of requests) messages.push(...(await pglite.execProtocol(request, { syncToFs: false })).messages);
  } finally {
    messages.push(...(await pglite.execProtocol(protocol.serialize.sync(), { syncToFs: false })).messages);
  }
  return messages;
}

function serializeParameter(pglite: PgliteSession, typeId: number | undefined, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const serializer = typeId === undefined ? undefined : pglite.serializers[typeId];
  return serializer ? serializer(value) : String(value);
}
