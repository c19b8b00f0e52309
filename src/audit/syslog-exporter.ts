/**
 * Exports audit rows to a syslog receiver after they commit. The exporter never runs inside an audited
 * transaction: it reads rows past a cursor (audit_export_cursor) in seq order, sends each as an RFC 5424
 * message whose MSG is the row's DICOM audit message, and moves the cursor after each send. Because
 * appends hold the chain lock until commit, rows commit in seq order and the cursor never skips one.
 *
 * One process of a fleet exports at a time: it holds a lease on the cursor row and renews it on every
 * pass. A failed send is logged with the row's id and seq and retried with a doubling wait, and later
 * rows wait behind it. The receiver so gets every row in order, and once unless a process stops between
 * a send and the cursor update, in which case the row is sent again.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { AppConfig } from '../config/load.ts';
import type { Database } from '../db/database.ts';
import { advanceExportCursor, leaseExportCursor, listAuditChainAfter, releaseExportCursor, type AuditEventRow } from '../db/queries/audit.ts';
import { getLogger } from '../logging/logger.ts';
import { buildDicomAuditMessage, type AuditSource } from './dicom-audit-message.ts';
import { SyslogSender, type SyslogTarget } from './syslog-transport.ts';

const logger = getLogger('audit-export');

type SyslogSettings = NonNullable<AppConfig['audit']['syslog']>;

/** Rows read per query. */
const EXPORT_BATCH_SIZE = 200;

/**
 * MSGID of every message.
 * NOTE: "IHE+RFC-3881" was not checked against the text of the IHE ATNA profile. Confirm the MSGID
 * that the receiving audit repository expects.
 */
const MSGID = 'IHE+RFC-3881';

/** RFC 5424 severities: 5 notice for a success, 4 warning for a failure. */
const SEVERITY = { success: 5, failure: 4 } as const;

/** RFC 5424 6.4: a MSG encoded as UTF-8 starts with the byte order mark. */
const UTF8_BOM = '\uFEFF';

/** RFC 5424 7.3.1: meta sequenceId runs from 1 to 2147483647. */
const MAX_SEQUENCE_ID = 2147483647;

/** Formats one audit row as an RFC 5424 message. */
export function formatSyslogMessage(row: AuditEventRow, settings: { facility: number; appName: string; hostname: string; source: AuditSource }): string {
  const priority = settings.facility * 8 + (row.outcome === 'success' ? SEVERITY.success : SEVERITY.failure);
  const structuredData = row.seq <= MAX_SEQUENCE_ID ? `[meta sequenceId="${row.seq}"]` : '-';
  const header = `<${priority}>1 ${row.occurredAt} ${settings.hostname} ${settings.appName} ${process.pid} ${MSGID} ${structuredData}`;
  return `${header} ${UTF8_BOM}${buildDicomAuditMessage(row, settings.source)}`;
}

export class AuditSyslogExporter {
  private readonly sender: SyslogSender;
  private readonly target: string;
  private readonly owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly hostname: string;
  private readonly source: AuditSource;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly database: Database,
    private readonly settings: SyslogSettings,
    configDirectory: string,
  ) {
    this.sender = new SyslogSender(syslogTarget(settings, configDirectory));
    this.target = `syslog:${settings.host}:${settings.port}`.slice(0, 64);
    this.hostname = settings.hostname ?? (os.hostname() || '-');
    this.source = { auditSourceId: settings.auditSourceId ?? this.hostname, ...(settings.enterpriseSiteId ? { enterpriseSiteId: settings.enterpriseSiteId } : {}) };
  }

  start(): void {
    logger.info('audit syslog export started', { host: this.settings.host, port: this.settings.port });
    this.schedule(0);
  }

  /** Stops after the send in progress and gives up the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    this.sender.close();
    await this.database.transaction((manager) => releaseExportCursor(manager, this.target, this.owner)).catch((error: unknown) => {
      logger.warn('audit syslog export lease not released; it runs out by itself', { err: error });
    });
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .then((next) => this.schedule(next))
        .catch((error: unknown) => {
          logger.error('audit syslog export pass failed; will retry', { err: error });
          this.schedule(this.retryDelayMs());
        });
    }, delayMs);
  }

  /** Sends what is due and returns the delay before the next pass. */
  private async pass(): Promise<number> {
    const pollMs = this.settings.pollIntervalSeconds * 1000;
    const leaseSeconds = Math.max(30, 3 * this.settings.pollIntervalSeconds, 2 * this.settings.retryMaxSeconds);
    const lastSeq = await this.database.transaction((manager) => leaseExportCursor(manager, this.target, this.owner, leaseSeconds, new Date()));
    if (lastSeq === undefined) return pollMs;

    const rows = await this.database.run((manager) => listAuditChainAfter(manager, lastSeq, EXPORT_BATCH_SIZE));
    for (const row of rows) {
      if (this.stopped) return pollMs;
      if (!(await this.sendRow(row))) return this.retryDelayMs();
      const advanced = await this.database.transaction((manager) => advanceExportCursor(manager, this.target, this.owner, row.seq, new Date()));
      if (!advanced) {
        logger.warn('audit syslog export lease lost to another process', { auditEventId: row.id, seq: row.seq });
        return pollMs;
      }
    }
    return rows.length === EXPORT_BATCH_SIZE ? 0 : pollMs;
  }

  private async sendRow(row: AuditEventRow): Promise<boolean> {
    const message = formatSyslogMessage(row, { facility: this.settings.facility, appName: this.settings.appName, hostname: this.hostname, source: this.source });
    try {
      await this.sender.send(message);
    } catch (error) {
      this.failures += 1;
      logger.warn('audit row not sent to syslog; will retry', { auditEventId: row.id, seq: row.seq, attempt: this.failures, err: error });
      return false;
    }
    if (this.failures > 0) logger.info('audit syslog export resumed', { auditEventId: row.id, seq: row.seq, attempt: this.failures + 1 });
    this.failures = 0;
    return true;
  }

  private retryDelayMs(): number {
    const exponent = Math.min(Math.max(this.failures - 1, 0), 20);
    return Math.min(this.settings.retryMaxSeconds * 1000, 1000 * 2 ** exponent);
  }
}

function syslogTarget(settings: SyslogSettings, configDirectory: string): SyslogTarget {
  const read = (file: string | undefined, key: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    const absolute = path.resolve(configDirectory, file);
    try {
      return readFileSync(absolute);
    } catch (error) {
      throw new Error(`audit.syslog.tls.${key} ${absolute} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
    }
  };
  const tls =
    settings.transport !== 'tls'
      ? undefined
      : {
          ca: read(settings.tls?.caFile, 'caFile'),
          cert: read(settings.tls?.certFile, 'certFile'),
          key: read(settings.tls?.keyFile, 'keyFile'),
          servername: settings.tls?.serverName ?? (isIpAddress(settings.host) ? undefined : settings.host),
          rejectUnauthorized: settings.tls?.rejectUnauthorized ?? true,
        };
  return { host: settings.host, port: settings.port, transport: settings.transport, timeoutMs: settings.timeoutSeconds * 1000, ...(tls ? { tls } : {}) };
}

function isIpAddress(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
