/**
 * A minimal Storage SCU that writes PDUs byte by byte, for inputs no well-behaved tool sends: a
 * truncated dataset, a dataset that contradicts its command, garbage inside P-DATA-TF. Written from
 * PS3.8 independently of src/dicom, so it checks the listener rather than repeating it.
 */
import net from 'node:net';

const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';

export interface ReceivedPdu {
  type: number;
  body: Buffer;
}

export class RawScu {
  private readonly socket: net.Socket;
  private buffer = Buffer.alloc(0);
  private readonly pdus: ReceivedPdu[] = [];
  private waiters: (() => void)[] = [];
  private closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 6 && this.buffer.length >= 6 + this.buffer.readUInt32BE(2)) {
        const length = this.buffer.readUInt32BE(2);
        this.pdus.push({ type: this.buffer[0]!, body: this.buffer.subarray(6, 6 + length) });
        this.buffer = this.buffer.subarray(6 + length);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<RawScu> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return new RawScu(socket);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends A-ASSOCIATE-RQ with one context per abstract syntax (IDs 1, 3, 5, ...) and returns the reply PDU. */
  async associate(options: { calledAeTitle: string; callingAeTitle: string; abstractSyntaxes: string[]; transferSyntax?: string }): Promise<ReceivedPdu> {
    const items: Buffer[] = [item(0x10, Buffer.from('1.2.840.10008.3.1.1.1', 'ascii'))];
    options.abstractSyntaxes.forEach((abstractSyntax, index) => {
      const header = Buffer.from([1 + 2 * index, 0, 0, 0]);
      items.push(item(0x20, Buffer.concat([header, item(0x30, Buffer.from(abstractSyntax, 'ascii')), item(0x40, Buffer.from(options.transferSyntax ?? IMPLICIT_VR_LITTLE_ENDIAN, 'ascii'))])));
    });
    const maxLength = Buffer.alloc(4);
    maxLength.writeUInt32BE(16384);
    items.push(item(0x50, Buffer.concat([item(0x51, maxLength), item(0x52, Buffer.from('1.2.3.4', 'ascii'))])));

    const fixed = Buffer.alloc(68);
    fixed.writeUInt16BE(1, 0);
    fixed.write(options.calledAeTitle.padEnd(16, ' '), 4, 'ascii');
    fixed.write(options.callingAeTitle.padEnd(16, ' '), 20, 'ascii');
    this.send(0x01, Buffer.concat([fixed, ...items]));
    return this.nextPdu();
  }

  /** Sends a C-STORE-RQ command and the dataset in PDVs of at most 16 KiB, on presentation context 1. */
  sendStore(command: { sopClassUid: string; sopInstanceUid: string; messageId: number }, dataset: Buffer): void {
    this.sendPDataTf(1, 0x03, storeCommand(command));
    const fragment = 16 * 1024;
    for (let offset = 0; offset < dataset.length || offset === 0; offset += fragment) {
      const last = offset + fragment >= dataset.length;
      this.sendPDataTf(1, last ? 0x02 : 0x00, dataset.subarray(offset, offset + fragment));
      if (last) break;
    }
  }

  /** Sends one P-DATA-TF PDU with one PDV. */
  sendPDataTf(presentationContextId: number, controlHeader: number, value: Buffer): void {
    const pdv = Buffer.alloc(6);
    pdv.writeUInt32BE(2 + value.length, 0);
    pdv[4] = presentationContextId;
    pdv[5] = controlHeader;
    this.send(0x04, Buffer.concat([pdv, value]));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits for the C-STORE-RSP and returns its Status (0000,0900). */
  async storeStatus(): Promise<number> {
    return (await this.storeResponse()).status;
  }

  /** Waits for the C-STORE-RSP and returns its Status (0000,0900) and Error Comment (0000,0902). */
  async storeResponse(): Promise<{ status: number; errorComment?: string }> {
    const pdu = await this.nextPdu();
    if (pdu.type !== 0x04) throw new Error(`expected P-DATA-TF, got PDU type ${pdu.type}`);
    const command = pdu.body.subarray(6);
    let status: number | undefined;
    let errorComment: string | undefined;
    for (let offset = 0; offset + 8 <= command.length; ) {
      const element = command.readUInt16LE(offset + 2);
      const length = command.readUInt32LE(offset + 4);
      if (element === 0x0900) status = command.readUInt16LE(offset + 8);
      if (element === 0x0902) errorComment = command.toString('latin1', offset + 8, offset + 8 + length).trimEnd();
      offset += 8 + length;
    }
    if (status === undefined) throw new Error('C-STORE-RSP without Status');
    return { status, errorComment };
  }

  async release(): Promise<ReceivedPdu> {
    this.send(0x05, Buffer.alloc(4));
    const reply = await this.nextPdu();
    this.socket.end();
    return reply;
  }

  /** Resolves when the listener closes the connection. */
  async closedByPeer(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the connection was not closed');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  async nextPdu(timeoutMs = 10_000): Promise<ReceivedPdu> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pdu = this.pdus.shift();
      if (pdu) return pdu;
      if (this.closed) throw new Error('the connection closed before a PDU arrived');
      if (Date.now() > deadline) throw new Error('no PDU arrived');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private send(type: number, body: Buffer): void {
    const header = Buffer.alloc(6);
    header[0] = type;
    header.writeUInt32BE(body.length, 2);
    this.socket.write(Buffer.concat([header, body]));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

function item(type: number, value: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header[0] = type;
  header.writeUInt16BE(value.length, 2);
  return Buffer.concat([header, value]);
}

function storeCommand(command: { sopClassUid: string; sopInstanceUid: string; messageId: number }): Buffer {
  const elements = [
    element(0x0002, padUid(command.sopClassUid)),
    element(0x0100, uint16(0x0001)),
    element(0x0110, uint16(command.messageId)),
    element(0x0700, uint16(0)),
    element(0x0800, uint16(0x0000)),
    element(0x1000, padUid(command.sopInstanceUid)),
  ];
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length);
  return Buffer.concat([element(0x0000, groupLength), body]);
}

function element(elementNumber: number, value: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(0x0000, 0);
  header.writeUInt16LE(elementNumber, 2);
  header.writeUInt32LE(value.length, 4);
  return Buffer.concat([header, value]);
}

function uint16(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16LE(value);
  return bytes;
}

function padUid(uid: string): Buffer {
  const bytes = Buffer.from(uid, 'ascii');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from([0])]);
}
