/**
 * The database handle: a TypeORM data source on PostgreSQL (DATABASE_URL) or on embedded PGlite.
 *
 * PGlite is one PostgreSQL session inside this process, and typeorm-pglite hands the same session to
 * every TypeORM query runner. Two transactions started concurrently would interleave their statements
 * in that one session, so on PGlite every unit of work runs under one in-process lock. On a PostgreSQL
 * server each unit of work gets its own pooled connection and runs concurrently.
 */
import 'reflect-metadata';
import { mkdirSync } from 'node:fs';

import { DataSource, type EntityManager } from 'typeorm';
import { PGliteDriver } from 'typeorm-pglite';
import { uuid_ossp } from '@electric-sql/pglite/contrib/uuid_ossp';

import { InitialSchema1764892800000 } from '../../migrations/1764892800000-initial-schema.ts';
import { ReportSupersedes1764979200000 } from '../../migrations/1764979200000-report-supersedes.ts';
import { IngestCompleteness1765065600000 } from '../../migrations/1765065600000-ingest-completeness.ts';
import { SeriesPreviewDirectory1765065700000 } from '../../migrations/1765065700000-series-preview-directory.ts';
import { DeliveryOutboxAndOrders1765065800000 } from '../../migrations/1765065800000-delivery-outbox-and-orders.ts';
import { JobQueueRuns1765152000000 } from '../../migrations/1765152000000-job-queue-runs.ts';
import { AuditHashChain1765238400000 } from '../../migrations/1765238400000-audit-hash-chain.ts';
import { ApiTokens1765238500000 } from '../../migrations/1765238500000-api-tokens.ts';
import { InstanceSha256OnDemand1765238600000 } from '../../migrations/1765238600000-instance-sha256-on-demand.ts';
import { AuditEvent } from './entities/audit-event.ts';
import { Delivery } from './entities/delivery.ts';
import { Instance } from './entities/instance.ts';
import { Report } from './entities/report.ts';
import { Series } from './entities/series.ts';
import { Study } from './entities/study.ts';
import { syncDirectoryTree, syncWal } from './pglite-durability.ts';

export const ENTITIES = [Study, Series, Instance, Report, Delivery, AuditEvent];
export const MIGRATIONS = [
  InitialSchema1764892800000,
  ReportSupersedes1764979200000,
  IngestCompleteness1765065600000,
  SeriesPreviewDirectory1765065700000,
  DeliveryOutboxAndOrders1765065800000,
  JobQueueRuns1765152000000,
  AuditHashChain1765238400000,
  ApiTokens1765238500000,
  InstanceSha256OnDemand1765238600000,
];

export type DatabaseTarget = { kind: 'postgres'; url: string } | { kind: 'pglite'; directory: string };

/** Runs queued async functions one at a time. */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class Database {
  private readonly serial: SerialQueue | undefined;

  private constructor(
    readonly dataSource: DataSource,
    readonly target: DatabaseTarget,
  ) {
    this.serial = target.kind === 'pglite' ? new SerialQueue() : undefined;
  }

  static async open(target: DatabaseTarget): Promise<Database> {
    if (target.kind === 'pglite') claimPgliteDirectory(target.directory);
    try {
      const dataSource = target.kind === 'postgres' ? postgresDataSource(target.url) : pgliteDataSource(target.directory);
      await dataSource.initialize();
      return new Database(dataSource, target);
    } catch (error) {
      if (target.kind === 'pglite') openPgliteDirectory = undefined;
      throw error;
    }
  }

  /** Runs `work` in one transaction; commits when it resolves and rolls back when it throws. */
  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(() => this.dataSource.transaction(work));
  }

  /** Runs `work` outside a transaction (reads, single statements). */
  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(() => work(this.dataSource.manager));
  }

  /** Applies pending migrations; returns the names of those applied. */
  async migrate(): Promise<string[]> {
    const applied = await this.exclusive(() => this.dataSource.runMigrations({ transaction: 'each' }));
    return applied.map((migration) => migration.name);
  }

  /**
   * Makes every commit so far survive a power loss. Await it before an acknowledgment that promises
   * durability (C-STORE Success, HL7 AA). A PostgreSQL server flushed the WAL at commit already. PGlite
   * does not flush, so its WAL files are synced here (see pglite-durability.ts).
   */
  async flushCommits(): Promise<void> {
    if (this.target.kind === 'pglite') await syncWal(this.target.directory);
  }

  async close(): Promise<void> {
    if (!this.dataSource.isInitialized) return;
    await this.exclusive(() => this.dataSource.destroy());
    if (this.target.kind !== 'pglite') return;
    openPgliteDirectory = undefined;
    // PGlite's shutdown checkpoint wrote data pages that no fsync has reached yet.
    await syncDirectoryTree(this.target.directory);
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.serial ? this.serial.run(work) : work();
  }
}

function postgresDataSource(url: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    logging: false,
    // Connections per process: the listener, scheduler, worker and sender each hold at most one at a time.
    poolSize: 10,
  });
}

/**
 * Folder of the PGlite database open in this process. typeorm-pglite keeps one PGlite instance per
 * process and hands it to every data source, whatever folder that data source names, so a second
 * folder would silently get the first one's database.
 */
let openPgliteDirectory: string | undefined;

function claimPgliteDirectory(directory: string): void {
  if (openPgliteDirectory !== undefined) {
    throw new Error(`an embedded database (${openPgliteDirectory}) is already open in this process. Close it before opening ${directory}`);
  }
  openPgliteDirectory = directory;
}

/** Data sources on PGlite, for queries that take another path there (see pglite-prepared.ts). */
const pgliteDataSources = new WeakSet<DataSource>();

export function isPgliteDataSource(dataSource: DataSource): boolean {
  return pgliteDataSources.has(dataSource);
}

function pgliteDataSource(directory: string): DataSource {
  mkdirSync(directory, { recursive: true });
  const dataSource = new DataSource({
    type: 'postgres',
    driver: new PGliteDriver({ dataDir: directory, extensions: { uuid_ossp } }).driver,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    logging: false,
  });
  pgliteDataSources.add(dataSource);
  return dataSource;
}
