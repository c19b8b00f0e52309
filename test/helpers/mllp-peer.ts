/**
 * A real MLLP server on 127.0.0.1 that plays the RIS in tests. It records every message it receives and
 * replies with an ACK built from the received MSH, or misbehaves on request (late, split, stray ACK, a
 * late ACK of the previous message, a wrong MSA-2, garbage, silence, hang-up, reset). Framing and ACK
 * building are written here from scratch rather than imported from src/delivery/hl7, so that a bug in
 * the client's framing cannot hide behind the same bug in the peer. With `tls` it serves MLLP inside TLS.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';

export type PeerAckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

/** How the peer replies to one received message. */
export interface MllpPeerReply {
  /** MSA-1, AA by default. */
  ackCode?: PeerAckCode;
  /** MSA-3. */
  ackText?: string;
  /** Time in ms to wait before the first byte of the reply. */
  delayMs?: number;
  /** Waits for this promise before replying, for tests that order events across peers. */
  waitFor?: Promise<unknown>;
  /** Number of TCP writes the ACK frame is cut into, 1 by default. */
  splitAckInto?: number;
  /** Sends an ACK whose MSA-2 is not the received MSH-10 before the real one, in its own write or the same write. */
  strayAckFirst?: 'separate-write' | 'same-write';
  /** Sends an AA for the MSH-10 of the message received before this one, before the real reply. */
  lateAckOfPreviousFirst?: boolean;
  /**
   * `ack` (the default) sends the ACK, `wrong-msa2` sends an AA whose MSA-2 is another message's,
   * `garbage-frame` sends a frame that is not HL7, `garbage-bytes` sends unframed text, `never-answer`
   * keeps the connection open and silent, `close` hangs up, `reset` aborts the connection with a TCP RST.
   */
  behaviour?: 'ack' | 'wrong-msa2' | 'garbage-frame' | 'garbage-bytes' | 'never-answer' | 'close' | 'reset';
}

export interface MllpPeerOptions {
  /** One reply for every message, or a function of the received message and its 0-based index. */
  reply?: MllpPeerReply | ((message: string, index: number) => MllpPeerReply);
  /** Serves MLLP inside TLS with this PEM certificate and key. */
  tls?: { cert: Buffer; key: Buffer };
}

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;
/** Pause between the parts of a split ACK, long enough on loopback for each write to arrive as its own read. */
const SPLIT_WRITE_PAUSE_MS = 20;

export class MllpPeer {
  /** Every received message, as decoded UTF-8 text without the MLLP frame. */
  readonly messages: string[] = [];
  private readonly options: MllpPeerOptions;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly waiters: Array<() => void> = [];
  /** Number of TCP connections accepted so far. */
  connections = 0;

  constructor(options: MllpPeerOptions = {}) {
    this.options = options;
    const onSocket = (socket: net.Socket) => this.serve(socket);
    this.server = options.tls ? tls.createServer({ cert: options.tls.cert, key: options.tls.key }, onSocket) : net.createServer(onSocket);
  }

  /** Listens on `port` of 127.0.0.1, an ephemeral one by default. */
  start(port = 0): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        const address = this.server.address() as net.AddressInfo;
        resolve({ port: address.port });
      });
    });
  }

  /** Resolves once `count` messages have arrived, or rejects after `timeoutMs`. */
  async waitForMessages(count: number, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`MLLP peer: received ${this.messages.length} of ${count} messages in ${timeoutMs} ms`);
      }
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push(resolve)),
        // Unreferenced, so a pending wait does not keep the test process alive.
        sleep(remaining, undefined, { ref: false }),
      ]);
    }
    return this.messages.slice(0, count);
  }

  /** Stops listening and destroys open connections, including silent ones. */
  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());

    let pending = Buffer.alloc(0);
    let answering = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const start = pending.indexOf(VT);
        const end = start === -1 ? -1 : pending.indexOf(FS, start);
        if (end === -1) break;
        const message = pending.subarray(start + 1, end).toString('utf8');
        pending = pending.subarray(pending[end + 1] === CR ? end + 2 : end + 1);

        const index = this.messages.push(message) - 1;
        this.waiters.splice(0).forEach((wake) => wake());
        // Replies go out in arrival order even when one of them is delayed.
        answering = answering
          .then(() => this.answer(socket, message, index))
          .catch(() => {
            socket.destroy();
          });
      }
    });
  }

  private async answer(socket: net.Socket, message: string, index: number): Promise<void> {
    const configured = this.options.reply;
    const reply = typeof configured === 'function' ? configured(message, index) : (configured ?? {});
    if (reply.delayMs !== undefined) await sleep(reply.delayMs);
    if (reply.waitFor !== undefined) await reply.waitFor;
    if (socket.destroyed) return;

    if (reply.lateAckOfPreviousFirst && index > 0) {
      const previous = readMsh(this.messages[index - 1]!);
      await writeInParts(socket, frame(buildAck(previous, 'AA', previous.controlId, undefined)), 1);
      await sleep(SPLIT_WRITE_PAUSE_MS);
    }

    const behaviour = reply.behaviour ?? 'ack';
    if (behaviour === 'never-answer') return;
    if (behaviour === 'close') {
      socket.destroy();
      return;
    }
    if (behaviour === 'reset') {
      socket.resetAndDestroy();
      return;
    }
    if (behaviour === 'garbage-frame') {
      await writeInParts(socket, frame('HTTP/1.1 400 Bad Request\r\n\r\n'), 1);
      return;
    }
    if (behaviour === 'garbage-bytes') {
      await writeInParts(socket, Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n', 'latin1'), 1);
      return;
    }

    const msh = readMsh(message);
    const acknowledgedId = behaviour === 'wrong-msa2' ? `OTHER-${msh.controlId}`.slice(0, 20) : msh.controlId;
    const ack = frame(buildAck(msh, reply.ackCode ?? 'AA', acknowledgedId, reply.ackText));
    const stray = frame(buildAck(msh, 'AA', `STRAY-${msh.controlId}`.slice(0, 20), undefined));

    if (reply.strayAckFirst === 'same-write') {
      await writeInParts(socket, Buffer.concat([stray, ack]), 1);
      return;
    }
    if (reply.strayAckFirst === 'separate-write') {
      await writeInParts(socket, stray, 1);
      await sleep(SPLIT_WRITE_PAUSE_MS);
    }
    await writeInParts(socket, ack, reply.splitAckInto ?? 1);
  }
}

interface ReceivedMsh {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  triggerEvent: string;
  controlId: string;
  processingId: string;
  versionId: string;
}

/** Reads the MSH fields an ACK copies; field n of MSH is element n - 1 after splitting on `|`. */
function readMsh(message: string): ReceivedMsh {
  const msh = (message.split(/\r\n|\r|\n/)[0] ?? '').split('|');
  const field = (fieldNumber: number): string => msh[fieldNumber - 1] ?? '';
  return {
    sendingApplication: field(3),
    sendingFacility: field(4),
    receivingApplication: field(5),
    receivingFacility: field(6),
    triggerEvent: field(9).split('^')[1] ?? '',
    controlId: field(10),
    processingId: field(11),
    versionId: field(12),
  };
}

function buildAck(msh: ReceivedMsh, code: PeerAckCode, acknowledgedId: string, text: string | undefined): string {
  const timestamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const header = [
    'MSH',
    '^~\\&',
    msh.receivingApplication,
    msh.receivingFacility,
    msh.sendingApplication,
    msh.sendingFacility,
    timestamp,
    '',
    `ACK^${msh.triggerEvent}^ACK`,
    `ACK${msh.controlId}`.slice(0, 20),
    msh.processingId,
    msh.versionId,
  ].join('|');
  const msa = ['MSA', code, acknowledgedId, ...(text === undefined ? [] : [text])].join('|');
  return `${header}\r${msa}\r`;
}

function frame(message: string): Buffer {
  return Buffer.concat([Buffer.of(VT), Buffer.from(message, 'utf8'), Buffer.of(FS, CR)]);
}

async function writeInParts(socket: net.Socket, bytes: Buffer, parts: number): Promise<void> {
  const size = Math.ceil(bytes.length / parts);
  for (let offset = 0; offset < bytes.length; offset += size) {
    if (offset > 0) await sleep(SPLIT_WRITE_PAUSE_MS);
    if (socket.destroyed) return;
    socket.write(bytes.subarray(offset, offset + size));
  }
}
