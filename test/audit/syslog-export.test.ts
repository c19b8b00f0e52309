import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';

import { recordAudit, type AuditEntry } from '../../src/audit/record-audit.ts';
import { AuditSyslogExporter } from '../../src/audit/syslog-exporter.ts';
import type { AppConfig } from '../../src/config/load.ts';
import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { configureLogging } from '../../src/logging/logger.ts';
import { freePort } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/service-process.ts';

type SyslogSettings = NonNullable<AppConfig['audit']['syslog']>;

const TLS_FIXTURES = path.resolve(import.meta.dirname, '../delivery/fixtures/tls');

/** A syslog receiver on 127.0.0.1 that splits RFC 6587 octet-counted frames into messages. */
class SyslogReceiver {
  readonly messages: string[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  /** With `tlsOptions`, the receiver speaks TLS (RFC 5425) with the same framing. */
  constructor(tlsOptions?: tls.TlsOptions) {
    const onConnection = (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (;;) {
          const space = buffer.indexOf(0x20);
          if (space < 0) return;
          const length = Number(buffer.subarray(0, space).toString('ascii'));
          assert.ok(Number.isInteger(length), `invalid frame length ${buffer.subarray(0, space).toString('ascii')}`);
          assert.ok(length > 0, 'empty frame');
          if (buffer.length < space + 1 + length) return;
          this.messages.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
          buffer = buffer.subarray(space + 1 + length);
        }
      });
    };
    this.server = tlsOptions ? tls.createServer(tlsOptions, onConnection) : net.createServer(onConnection);
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Parses the DICOM audit message with Python's xml.etree (an independent, strict XML parser). */
function parseAuditXml(xml: string): { eventId: string; actionCode: string; outcome: string; objects: { id: string; typeCode: string; idTypeCode: string }[]; source: string } {
  const script = String.raw`
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == 'AuditMessage', root.tag
event = root.find('EventIdentification')
print(json.dumps({
  'eventId': event.find('EventID').get('csd-code'),
  'actionCode': event.get('EventActionCode'),
  'outcome': event.get('EventOutcomeIndicator'),
  'source': root.find('AuditSourceIdentification').get('AuditSourceID'),
  'objects': [{'id': o.get('ParticipantObjectID'), 'typeCode': o.get('ParticipantObjectTypeCode'),
               'idTypeCode': o.find('ParticipantObjectIDTypeCode').get('csd-code')}
              for o in root.findall('ParticipantObjectIdentification')],
}))
`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { input: Buffer.from(xml, 'utf8') }).toString('utf8'));
}

const STUDY = '1.2.826.0.1.3680043.8.498.77';

const TRANSFERRED: AuditEntry = {
  action: 'dicom_instances_transferred',
  outcome: 'success',
  actorType: 'peer',
  actor: 'STORESCU',
  sourceAddress: '127.0.0.1',
  studyInstanceUid: STUDY,
  accessionNumber: 'ACC<&>1',
  patientId: 'PID-77',
  details: { instancesStored: 2 },
};

const FAILED: AuditEntry = { action: 'delivery_failed', outcome: 'failure', actorType: 'system', actor: 'sender', studyInstanceUid: STUDY };

describe('audit syslog export', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  const logLines: Record<string, unknown>[] = [];

  const settings = (port: number): SyslogSettings => ({
    host: '127.0.0.1',
    port,
    transport: 'tcp',
    facility: 10,
    appName: 'argus-gateway',
    hostname: 'gateway-test',
    auditSourceId: 'ARGUS-TEST',
    pollIntervalSeconds: 0.1,
    timeoutSeconds: 2,
    retryMaxSeconds: 0.5,
  });

  const exportCursor = async (port: number) =>
    (
      await database.run((manager) =>
        queryRows<{ last_seq: string }>(manager, `SELECT last_seq FROM audit_export_cursor WHERE target = $1`, [`syslog:127.0.0.1:${port}`]),
      )
    )[0];

  before(async () => {
    configureLogging(
      'info',
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
          callback();
        },
      }),
    );
    testDatabase = await createTestDatabase('argus_audit_syslog');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    // Rows written before the export starts stay behind the cursor.
    await database.transaction((manager) => recordAudit(manager, { ...FAILED, actor: 'before-export' }));
  });

  after(async () => {
    configureLogging('info');
    await database.close();
    await testDatabase.drop();
  });

  it('sends committed rows as RFC 5424 DICOM audit messages', async () => {
    const receiver = new SyslogReceiver();
    const port = await freePort();
    await receiver.listen(port);
    const exporter = new AuditSyslogExporter(database, settings(port), process.cwd());
    exporter.start();
    try {
      await waitFor('the export cursor', () => exportCursor(port), 10_000, 50);
      const first = await database.transaction((manager) => recordAudit(manager, TRANSFERRED));
      const second = await database.transaction((manager) => recordAudit(manager, FAILED));
      await waitFor('two syslog messages', async () => (receiver.messages.length >= 2 ? true : undefined), 10_000, 50);

      assert.equal(receiver.messages.length, 2);
      const [success, failure] = receiver.messages as [string, string];
      // PRI = facility 10 * 8 + severity 5 (notice) or 4 (warning).
      assert.match(success, new RegExp(`^<85>1 \\d{4}-\\d{2}-\\d{2}T\\S+Z gateway-test argus-gateway \\d+ IHE\\+RFC-3881 \\[meta sequenceId="${first.seq}"\\] \\uFEFF<\\?xml`));
      assert.match(failure, new RegExp(`^<84>1 .* \\[meta sequenceId="${second.seq}"\\] \\uFEFF<\\?xml`));

      const transferred = parseAuditXml(success.slice(success.indexOf('<?xml')));
      assert.equal(transferred.eventId, '110104');
      assert.equal(transferred.actionCode, 'C');
      assert.equal(transferred.outcome, '0');
      assert.equal(transferred.source, 'ARGUS-TEST');
      assert.deepEqual(transferred.objects, [
        { id: STUDY, typeCode: '2', idTypeCode: '110180' },
        { id: 'PID-77', typeCode: '1', idTypeCode: '2' },
      ]);
      const exported = parseAuditXml(failure.slice(failure.indexOf('<?xml')));
      assert.equal(exported.eventId, '110106');
      assert.equal(exported.outcome, '4');

      await waitFor('the cursor at the last row', async () => (Number((await exportCursor(port))?.last_seq) === second.seq ? true : undefined), 10_000, 50);
    } finally {
      await exporter.stop();
      await receiver.close();
    }
  });

  it('retries while the receiver is down and logs the row id', async () => {
    const port = await freePort();
    const exporter = new AuditSyslogExporter(database, settings(port), process.cwd());
    exporter.start();
    const receiver = new SyslogReceiver();
    try {
      await waitFor('the export cursor', () => exportCursor(port), 10_000, 50);
      // The audited transaction commits although the receiver is down.
      const pending = await database.transaction((manager) => recordAudit(manager, TRANSFERRED));
      await waitFor(
        'a logged export failure',
        async () => (logLines.some((line) => line.msg === 'audit row not sent to syslog; will retry' && line.auditEventId === pending.id) ? true : undefined),
        10_000,
        50,
      );
      const failure = logLines.find((line) => line.auditEventId === pending.id)!;
      assert.equal(failure.seq, pending.seq);
      assert.equal((failure.err as { code?: string }).code, 'syslog_connect_failed');

      await receiver.listen(port);
      await waitFor('the message after the retry', async () => (receiver.messages.length >= 1 ? true : undefined), 10_000, 50);
      assert.equal(receiver.messages.length, 1);
      assert.match(receiver.messages[0]!, new RegExp(`\\[meta sequenceId="${pending.seq}"\\]`));
    } finally {
      await exporter.stop();
      await receiver.close();
    }
  });

  it('sends over TLS to a receiver whose certificate verifies', async () => {
    const receiver = new SyslogReceiver({ cert: readFileSync(path.join(TLS_FIXTURES, 'server.pem')), key: readFileSync(path.join(TLS_FIXTURES, 'server.key')) });
    const port = await freePort();
    await receiver.listen(port);
    const exporter = new AuditSyslogExporter(database, { ...settings(port), transport: 'tls', tls: { caFile: 'ca.pem', rejectUnauthorized: true } }, TLS_FIXTURES);
    exporter.start();
    try {
      await waitFor('the export cursor', () => exportCursor(port), 10_000, 50);
      const row = await database.transaction((manager) => recordAudit(manager, TRANSFERRED));
      await waitFor('the message over TLS', async () => (receiver.messages.length >= 1 ? true : undefined), 10_000, 50);

      assert.equal(receiver.messages.length, 1);
      assert.match(receiver.messages[0]!, new RegExp(`\\[meta sequenceId="${row.seq}"\\]`));
    } finally {
      await exporter.stop();
      await receiver.close();
    }
  });

  it('rejects a TLS receiver signed by another CA', async () => {
    const receiver = new SyslogReceiver({ cert: readFileSync(path.join(TLS_FIXTURES, 'server.pem')), key: readFileSync(path.join(TLS_FIXTURES, 'server.key')) });
    const port = await freePort();
    await receiver.listen(port);
    const exporter = new AuditSyslogExporter(database, { ...settings(port), transport: 'tls', tls: { caFile: 'other-ca.pem', rejectUnauthorized: true } }, TLS_FIXTURES);
    exporter.start();
    try {
      await waitFor('the export cursor', () => exportCursor(port), 10_000, 50);
      const row = await database.transaction((manager) => recordAudit(manager, TRANSFERRED));
      const failure = await waitFor('a logged TLS failure', async () => logLines.find((line) => line.auditEventId === row.id), 10_000, 50);

      assert.equal((failure.err as { code?: string }).code, 'syslog_connect_failed');
      assert.equal(receiver.messages.length, 0);
    } finally {
      await exporter.stop();
      await receiver.close();
    }
  });

  it('sends one datagram per row over UDP', async () => {
    const datagrams: string[] = [];
    const socket = dgram.createSocket('udp4');
    socket.on('message', (message) => datagrams.push(message.toString('utf8')));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const port = socket.address().port;
    const exporter = new AuditSyslogExporter(database, { ...settings(port), transport: 'udp' }, process.cwd());
    exporter.start();
    try {
      await waitFor('the export cursor', () => exportCursor(port), 10_000, 50);
      const row = await database.transaction((manager) => recordAudit(manager, FAILED));
      await waitFor('the datagram', async () => (datagrams.length >= 1 ? true : undefined), 10_000, 50);

      assert.equal(datagrams.length, 1);
      assert.match(datagrams[0]!, new RegExp(`^<84>1 .* \\[meta sequenceId="${row.seq}"\\] \\uFEFF<\\?xml`));
      assert.equal(parseAuditXml(datagrams[0]!.slice(datagrams[0]!.indexOf('<?xml'))).eventId, '110106');
    } finally {
      await exporter.stop();
      socket.close();
    }
  });

  it('names an unreadable TLS file', () => {
    assert.throws(
      () => new AuditSyslogExporter(database, { ...settings(6514), transport: 'tls', tls: { caFile: 'missing-ca.pem', rejectUnauthorized: true } }, TLS_FIXTURES),
      /^Error: audit\.syslog\.tls\.caFile \S+missing-ca\.pem cannot be read \(ENOENT\)$/,
    );
  });
});
