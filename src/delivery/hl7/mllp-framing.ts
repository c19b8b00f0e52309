/**
 * MLLP framing (the Minimal Lower Layer Protocol that carries HL7 v2 over TCP): each message travels as
 * VT (0x0B) + message bytes + FS (0x1C) + CR (0x0D). TCP delivers a byte stream, so one read may carry half
 * a frame or several frames. The decoder therefore works on bytes and decodes text only once a frame is
 * complete, which also keeps a multi-byte UTF-8 character that straddles two reads intact.
 */
import { MllpFrameTooLargeError } from './errors.ts';

export const MLLP_START_BLOCK = 0x0b;
export const MLLP_END_BLOCK = 0x1c;
export const MLLP_CARRIAGE_RETURN = 0x0d;

/** Wraps a message in an MLLP frame, encoded as UTF-8 to match MSH-18 `UNICODE UTF-8`. */
export function encodeMllpFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.of(MLLP_START_BLOCK), body, Buffer.of(MLLP_END_BLOCK, MLLP_CARRIAGE_RETURN)]);
}

/**
 * Reassembles MLLP frames from TCP reads. A frame ends at FS, and the CR after FS is consumed when present,
 * even if it arrives in the next read. Bytes outside a frame are skipped and counted in `skippedBytes`,
 * because some senders put a newline between frames. A VT inside a frame means the sender abandoned that
 * frame and started again, so the unfinished bytes are skipped too.
 */
export class MllpFrameDecoder {
  private readonly maxFrameBytes: number;
  private parts: Buffer[] = [];
  private frameLength = 0;
  private insideFrame = false;
  private expectingCarriageReturn = false;
  /** Number of bytes outside any frame that were skipped so far. */
  skippedBytes = 0;

  /** `maxFrameBytes` bounds the memory a peer can fill by never sending FS. */
  constructor(options: { maxFrameBytes: number }) {
    this.maxFrameBytes = options.maxFrameBytes;
  }

  /**
   * Consumes one TCP read and returns the payloads of the frames it completed, in order.
   * Throws MllpFrameTooLargeError once an unfinished frame exceeds `maxFrameBytes`.
   */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let position = 0;

    while (position < chunk.length) {
      if (this.expectingCarriageReturn) {
        this.expectingCarriageReturn = false;
        if (chunk[position] === MLLP_CARRIAGE_RETURN) position++;
        continue;
      }

      if (!this.insideFrame) {
        const start = chunk.indexOf(MLLP_START_BLOCK, position);
        this.skippedBytes += (start === -1 ? chunk.length : start) - position;
        if (start === -1) break;
        this.insideFrame = true;
        position = start + 1;
        continue;
      }

      const end = chunk.indexOf(MLLP_END_BLOCK, position);
      const stop = end === -1 ? chunk.length : end;
      const restart = chunk.subarray(position, stop).indexOf(MLLP_START_BLOCK);
      if (restart !== -1) {
        this.skippedBytes += this.frameLength + restart;
        this.reset();
        position += restart;
        continue;
      }

      this.append(chunk.subarray(position, stop));
      if (end === -1) break;

      frames.push(this.takeFrame());
      this.expectingCarriageReturn = true;
      position = end + 1;
    }
    return frames;
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.frameLength += bytes.length;
    if (this.frameLength > this.maxFrameBytes) {
      this.reset();
      throw new MllpFrameTooLargeError(
        `MLLP frame exceeds ${this.maxFrameBytes} bytes without an end-of-frame byte (FS)`,
      );
    }
    this.parts.push(bytes);
  }

  private takeFrame(): Buffer {
    const frame = Buffer.concat(this.parts, this.frameLength);
    this.reset();
    return frame;
  }

  private reset(): void {
    this.parts = [];
    this.frameLength = 0;
    this.insideFrame = false;
  }
}
