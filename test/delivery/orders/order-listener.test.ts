import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../../src/db/database.ts';
import { findOrdersByAccession } from '../../../src/db/queries/orders.ts';
import { queryRows } from '../../../src/db/sql.ts';
import { configureLogging } from '../../../src/logging/logger.ts';
import { OrderIntake } from '../../../src/orders/order-intake.ts';
import { OrderListener, type OrderListenerOptions } from '../../../src/orders/order-listener.ts';
import { OrderStore } from '../../../src/orders/order-store.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { ormO01 } from './order-fixtures.ts';
import { sendWithPythonHl7 } from './python-mllp-sender.ts';

const TLS_FIXTURES = path.resolve(import.meta.dirname, '../fixtures/tls');

describe('HL7 order listener', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  const listeners: OrderListener[] = [];

  before(async () => {
    configureLogging('silent');
    testDatabase = await createTestDatabase('argus_orders');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
  });

  after(async () => {
    await Promise.all(listeners.map((listener) => listener.stop()));
    await database.close();
    await testDatabase.drop();
  });

  async function startListener(options: Partial<OrderListenerOptions> = {}): Promise<number> {
    const intake = new OrderIntake(new OrderStore(database), { acceptedProcessingIds: ['P'] });
    const listener = new OrderListener(
      { host: '127.0.0.1', port: 0, allowedAddresses: [], idleTimeoutMs: 10_000, ...options },
      (frame, remoteAddress) => intake.handleFrame(frame, remoteAddress),
    );
    listeners.push(listener);
    return listener.start();
  }

  function countRows(sql: string, parameters: unknown[] = []): Promise<number> {
    return database.run(async (manager) => (await queryRows<{ count: number }>(manager, sql, parameters))[0]!.count);
  }

  it('stores an ORM^O01 and returns AA', async () => {
    const port = await startListener();
    const [ack] = await sendWithPythonHl7(port, [ormO01({ messageControlId: 'STORE-1', accessionNumber: 'ACC-STORE' })]);

    assert.equal(ack?.ackCode, 'AA');
    assert.equal(ack?.acknowledgedId, 'STORE-1');
    assert.equal(ack?.messageType, 'ACK^O01^ACK');
    const orders = await database.run((manager) => findOrdersByAccession(manager, 'ACC-STORE'));
    assert.equal(orders.length, 1);
    assert.equal(orders[0]!.placerOrderNumber, 'PL-100');
    assert.equal(orders[0]!.fillerOrderNumber, 'FI-200');
    assert.equal(orders[0]!.patientId, 'PAT-7');
    assert.equal(orders[0]!.status, 'active');
  });

  it('acknowledges a resent MSH-10 without storing it twice', async () => {
    const port = await startListener();
    const message = ormO01({ messageControlId: 'DUP-1', accessionNumber: 'ACC-DUP', placer: 'PL-DUP' });
    const acks = await sendWithPythonHl7(port, [message, message]);

    assert.deepEqual(acks.map((ack) => ack?.ackCode), ['AA', 'AA']);
    assert.equal(await countRows(`SELECT count(*)::int AS count FROM hl7_inbound_message WHERE message_control_id = 'DUP-1'`), 1);
    assert.equal(await countRows(`SELECT count(*)::int AS count FROM imaging_order WHERE accession_number = 'ACC-DUP'`), 1);
  });

  it('updates and cancels an order by its placer number', async () => {
    const port = await startListener();
    await sendWithPythonHl7(port, [
      ormO01({ messageControlId: 'UPD-1', placer: 'PL-UPD', accessionNumber: 'ACC-UPD' }),
      ormO01({ messageControlId: 'UPD-2', placer: 'PL-UPD', accessionNumber: 'ACC-UPD', orderControl: 'XO', procedure: 'CTABD^CT abdomen^L' }),
    ]);
    let [order] = await database.run((manager) => findOrdersByAccession(manager, 'ACC-UPD'));
    assert.equal(order?.procedureCode, 'CTABD');
    assert.equal(order?.status, 'active');

    const [ack] = await sendWithPythonHl7(port, [ormO01({ messageControlId: 'UPD-3', placer: 'PL-UPD', accessionNumber: '', orderControl: 'CA' })]);
    assert.equal(ack?.ackCode, 'AA');
    const orders = await database.run((manager) => findOrdersByAccession(manager, 'ACC-UPD'));
    assert.equal(orders.length, 1);
    [order] = orders;
    assert.equal(order?.status, 'cancelled');
  });

  it('returns AE with ERR for a missing PID-3', async () => {
    const port = await startListener();
    const [ack] = await sendWithPythonHl7(port, [ormO01({ messageControlId: 'BAD-PID', pid: 'PID|1||||Nowak^Ewa' })]);

    assert.equal(ack?.ackCode, 'AE');
    assert.equal(ack?.acknowledgedId, 'BAD-PID');
    assert.equal(ack?.errorLocation, 'PID^1^3');
    assert.equal(ack?.errorCode, '101');
    assert.equal(ack?.errorCodingSystem, 'HL70357');
    assert.equal(ack?.severity, 'E');
    assert.match(ack?.userMessage ?? '', /PID-3/);
    const audit = await countRows(`SELECT count(*)::int AS count FROM audit_event WHERE action = 'hl7_order_rejected' AND correlation_id = 'BAD-PID'`);
    assert.equal(audit, 1);
  });

  it('returns AE when the commit flush fails', async () => {
    const port = await startListener();
    const message = ormO01({ messageControlId: 'FLUSH-1', accessionNumber: 'ACC-FLUSH', placer: 'PL-FLUSH' });
    const flushCommits = database.flushCommits.bind(database);
    database.flushCommits = async () => {
      throw Object.assign(new Error('simulated EIO from fdatasync'), { code: 'EIO' });
    };
    let ack;
    try {
      [ack] = await sendWithPythonHl7(port, [message]);
    } finally {
      database.flushCommits = flushCommits;
    }

    // AA promises a durable order, so an unflushed commit gets AE 207 and the sender resends.
    assert.equal(ack?.ackCode, 'AE');
    assert.equal(ack?.errorCode, '207');
    const [resent] = await sendWithPythonHl7(port, [message]);
    assert.equal(resent?.ackCode, 'AA');
    assert.equal(await countRows(`SELECT count(*)::int AS count FROM imaging_order WHERE accession_number = 'ACC-FLUSH'`), 1);
  });

  it('returns AR for an unsupported message type', async () => {
    const port = await startListener();
    const [ack] = await sendWithPythonHl7(port, [ormO01({ messageControlId: 'ADT-1', messageType: 'ADT^A08^ADT_A01' })]);

    assert.equal(ack?.ackCode, 'AR');
    assert.equal(ack?.errorCode, '200');
    assert.equal(ack?.errorLocation, 'MSH^1^9');
  });

  it('returns AR for a frame that is not HL7', async () => {
    const port = await startListener();
    const [ack] = await sendWithPythonHl7(port, [Buffer.from('HELLO RIS', 'latin1')]);

    assert.equal(ack?.ackCode, 'AR');
    assert.equal(ack?.errorCode, '100');
    // The ACK is a whole HL7 message even without a readable request; python-hl7 parsed it above.
    assert.deepEqual(
      ack!.raw.split('\r').filter((segment) => segment !== '').map((segment) => segment.slice(0, 3)),
      ['MSH', 'MSA', 'ERR'],
    );
  });

  it('closes connections from addresses outside the allow-list', async () => {
    const port = await startListener({ allowedAddresses: ['192.0.2.1'] });
    const [ack] = await sendWithPythonHl7(port, [ormO01({ messageControlId: 'DENIED-1', accessionNumber: 'ACC-DENIED' })]).catch(() => [null]);

    assert.equal(ack ?? null, null);
    assert.equal(await countRows(`SELECT count(*)::int AS count FROM imaging_order WHERE accession_number = 'ACC-DENIED'`), 0);
  });

  it('accepts orders over TLS', async () => {
    const port = await startListener({
      tls: { cert: readFileSync(path.join(TLS_FIXTURES, 'server.pem')), key: readFileSync(path.join(TLS_FIXTURES, 'server.key')) },
    });
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(path.join(TLS_FIXTURES, 'ca.pem')) }, () => {
        socket.write(Buffer.concat([Buffer.of(0x0b), Buffer.from(ormO01({ messageControlId: 'TLS-1', accessionNumber: 'ACC-TLS' })), Buffer.of(0x1c, 0x0d)]));
      });
      let received = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.includes(0x1c)) {
          socket.end();
          resolve(received.subarray(1, received.indexOf(0x1c)).toString('utf8'));
        }
      });
      socket.on('error', reject);
    });

    assert.match(reply, /\rMSA\|AA\|TLS-1\r/);
    assert.equal(await countRows(`SELECT count(*)::int AS count FROM imaging_order WHERE accession_number = 'ACC-TLS'`), 1);
  });
});
