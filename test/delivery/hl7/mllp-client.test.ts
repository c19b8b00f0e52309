import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';

import { Hl7Error } from '../../../src/delivery/hl7/errors.ts';
import { sendMllpMessage } from '../../../src/delivery/hl7/mllp-client.ts';
import { buildOruR01 } from '../../../src/delivery/hl7/oru-r01.ts';
import { configureLogging } from '../../../src/logging/logger.ts';
import { MllpPeer, type MllpPeerOptions } from '../../helpers/mllp-peer.ts';
import { oruInput } from './fixtures.ts';

/** Generous for loopback, so only the tests that expect a timeout ever reach it. */
const TIMEOUT_MS = 5000;
const CONTROL_ID = 'ARGUS-0000000001';
const FINDINGS = 'Nodule 8 mm in the left lower lobe, Zoë ł 中.';
const MESSAGE = buildOruR01(oruInput({ result: { ...oruInput().result, findings: FINDINGS } }));

const logLines: string[] = [];
let peer: MllpPeer | undefined;

async function startPeer(options: MllpPeerOptions = {}): Promise<{ host: string; port: number }> {
  peer = new MllpPeer(options);
  const { port } = await peer.start();
  return { host: '127.0.0.1', port };
}

function rejectsWith(code: string, retryable: boolean) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof Hl7Error, `expected an Hl7Error, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.retryable, retryable);
    return true;
  };
}

/** Returns a port on 127.0.0.1 that nothing listens on, by binding it and closing it again. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('MLLP client', () => {
  before(() => {
    configureLogging('debug', { write: (line: string) => void logLines.push(line) });
  });

  afterEach(async () => {
    await peer?.close();
    peer = undefined;
  });

  after(() => {
    configureLogging('silent');
  });

  it('sends the ORU^R01 and returns the AA ACK', async () => {
    const target = await startPeer();
    const ack = await sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS });

    assert.equal(ack.code, 'AA');
    assert.equal(ack.messageControlId, CONTROL_ID);
    assert.match(ack.raw, /^MSH\|/);
    assert.deepEqual(await peer?.waitForMessages(1, TIMEOUT_MS), [MESSAGE]);
  });

  it('reads an ACK split across TCP writes', async () => {
    const target = await startPeer({ reply: { splitAckInto: 5 } });
    const ack = await sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS });

    assert.equal(ack.code, 'AA');
    assert.equal(ack.messageControlId, CONTROL_ID);
  });

  it('skips a stray ACK sent before ours', async () => {
    const target = await startPeer({ reply: { strayAckFirst: 'separate-write', ackCode: 'AE' } });
    const ack = await sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS });

    assert.equal(ack.code, 'AE');
    assert.equal(ack.messageControlId, CONTROL_ID);
  });

  it('skips a stray ACK in the same write as ours', async () => {
    const target = await startPeer({ reply: { strayAckFirst: 'same-write', ackCode: 'AR' } });
    const ack = await sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS });

    assert.equal(ack.code, 'AR');
    assert.equal(ack.messageControlId, CONTROL_ID);
  });

  it('logs stray MSA-2 but no message content', async () => {
    logLines.length = 0;
    const target = await startPeer({ reply: { strayAckFirst: 'same-write' } });
    await sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS });
    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);

    const stray = entries.find((entry) => entry.msg === 'ignored an HL7 ACK for another message');
    assert.equal(stray?.messageControlId, `STRAY-${CONTROL_ID}`.slice(0, 20));
    const received = entries.find((entry) => entry.msg === 'HL7 ACK received');
    assert.equal(received?.messageControlId, CONTROL_ID);
    assert.equal(received?.ackCode, 'AA');
    const output = logLines.join('');
    for (const secret of ['Kowalski', 'PAT-001', '19610315', 'ACC-2024-0042', 'Nodule 8 mm', 'MSH|']) {
      assert.ok(!output.includes(secret), `log output contains ${secret}`);
    }
  });

  for (const code of ['AE', 'AR', 'CA', 'CE', 'CR'] as const) {
    it(`returns ${code} with its text`, async () => {
      const target = await startPeer({ reply: { ackCode: code, ackText: `reason for ${code}` } });
      const ack = await sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS });

      assert.equal(ack.code, code);
      assert.equal(ack.text, `reason for ${code}`);
    });
  }

  it('waits for a delayed ACK', async () => {
    const target = await startPeer({ reply: { delayMs: 200 } });
    const ack = await sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS });

    assert.equal(ack.code, 'AA');
  });

  it('matches ACKs of consecutive messages', async () => {
    const target = await startPeer({ reply: (_message, index) => ({ ackCode: index === 0 ? 'AE' : 'AA' }) });
    const second = buildOruR01(oruInput({ messageControlId: 'ARGUS-0000000002' }));

    const firstAck = await sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS });
    const secondAck = await sendMllpMessage(target, second, 'ARGUS-0000000002', { timeoutMs: TIMEOUT_MS });

    assert.equal(firstAck.code, 'AE');
    assert.equal(secondAck.code, 'AA');
    assert.equal(secondAck.messageControlId, 'ARGUS-0000000002');
    assert.equal(peer?.messages.length, 2);
  });

  it('times out when the peer never answers', async () => {
    const target = await startPeer({ reply: { behaviour: 'never-answer' } });

    await assert.rejects(
      sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: 300 }),
      rejectsWith('mllp_timeout', true),
    );
    assert.equal(peer?.messages.length, 1, 'the message arrived before the timeout');
  });

  it('times out when no ACK has our MSA-2', async () => {
    // The peer acknowledges the MSH-10 in the message, which differs from the id the client waits for.
    const target = await startPeer();

    await assert.rejects(
      sendMllpMessage(target, MESSAGE, 'ARGUS-0000000009', { timeoutMs: 300 }),
      rejectsWith('mllp_timeout', true),
    );
    assert.equal(peer?.messages.length, 1);
  });

  it('fails when the connection is refused', async () => {
    const target = { host: '127.0.0.1', port: await closedPort() };

    await assert.rejects(
      sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS }),
      rejectsWith('mllp_connection_failed', true),
    );
  });

  it('fails when the peer closes without an ACK', async () => {
    const target = await startPeer({ reply: { behaviour: 'close' } });

    await assert.rejects(
      sendMllpMessage(target, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS }),
      rejectsWith('mllp_closed', true),
    );
  });

  it('fails on a reply that is not an ACK', async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('data', () => socket.write(Buffer.from('\x0bHELLO\x1c\x0d', 'latin1')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;

    try {
      await assert.rejects(
        sendMllpMessage({ host: '127.0.0.1', port }, MESSAGE, CONTROL_ID, { timeoutMs: TIMEOUT_MS }),
        rejectsWith('hl7_ack_invalid', true),
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
