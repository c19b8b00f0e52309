/**
 * Sends one HL7 v2 message over MLLP and waits for its acknowledgment. Each call opens its own TCP
 * connection, so a failed exchange leaves no half-read state behind for the next message.
 *
 * The ACK is matched by MSA-2 against the sent MSH-10. A receiver may still have an ACK for an earlier
 * message in flight (for example one that arrived after a timed-out attempt). Such a frame is logged by
 * its MSA-2 and skipped, because taking it as ours could mark an undelivered report as delivered.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

import { getLogger } from '../../logging/logger.ts';
import { parseHl7Ack, type HL7Ack } from './ack.ts';
import {
  Hl7AckInvalidError,
  Hl7Error,
  MllpClosedError,
  MllpConnectionError,
  MllpTimeoutError,
} from './errors.ts';
import { MllpFrameDecoder, encodeMllpFrame } from './mllp-framing.ts';

export type { HL7Ack, HL7AckCode } from './ack.ts';

const log = getLogger('mllp-client');

/**
 * Maximum frame size accepted from the receiver. An ACK (MSH, MSA, an optional ERR) is well under 1 KiB.
 * 1 MiB leaves room for verbose ERR segments and bounds the memory a peer can fill without ever sending FS.
 */
const MAX_ACK_FRAME_BYTES = 1024 * 1024;

export interface MllpTarget {
  host: string;
  port: number;
}

export interface MllpSendOptions {
  /** Time in ms from the start of the call (connect, send, ACK) after which it fails with mllp_timeout. */
  timeoutMs: number;
}

/**
 * Sends `message` to `target` and resolves with the ACK whose MSA-2 equals `messageControlId`, which
 * must be the MSH-10 of `message`. Every HL7 table 0008 code resolves, AE and AR included, and the caller
 * decides what it means. Rejects with MllpTimeoutError, MllpConnectionError, MllpClosedError or
 * Hl7AckInvalidError.
 */
export function sendMllpMessage(
  target: MllpTarget,
  message: string,
  messageControlId: string,
  options: MllpSendOptions,
): Promise<HL7Ack> {
  if (!(options.timeoutMs > 0)) {
    return Promise.reject(new RangeError(`MLLP timeoutMs must be a positive number of ms, got ${options.timeoutMs}`));
  }

  return new Promise<HL7Ack>((resolve, reject) => {
    const startedAt = performance.now();
    const fields = { host: target.host, port: target.port, messageControlId };
    const decoder = new MllpFrameDecoder({ maxFrameBytes: MAX_ACK_FRAME_BYTES });
    let stage: 'connect' | 'ack' = 'connect';
    let settled = false;

    const socket = net.createConnection({ host: target.host, port: target.port });
    const peerName = `${target.host}:${target.port}`;
    const timer = setTimeout(() => {
      const waitedFor = stage === 'connect' ? 'the TCP connection' : `the ACK of MSH-10 ${messageControlId}`;
      const reason = `MLLP to ${peerName}: timed out after ${options.timeoutMs} ms waiting for ${waitedFor}`;
      fail(new MllpTimeoutError(reason));
    }, options.timeoutMs);

    function settle(): boolean {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      return true;
    }

    function fail(error: Hl7Error): void {
      if (settle()) reject(error);
    }

    function succeed(ack: HL7Ack): void {
      if (!settle()) return;
      const durationMs = Math.round(performance.now() - startedAt);
      log.info('HL7 ACK received', { ...fields, ackCode: ack.code, durationMs });
      resolve(ack);
    }

    socket.setNoDelay(true);

    socket.once('connect', () => {
      stage = 'ack';
      socket.write(encodeMllpFrame(message));
    });

    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        fail(new Hl7AckInvalidError(`MLLP from ${peerName}: the reply frame is too large`, { cause: error }));
        return;
      }

      for (const frame of frames) {
        const ack = parseAckFrame(frame, target);
        if (ack instanceof Hl7AckInvalidError) return fail(ack);
        if (ack.messageControlId === messageControlId) return succeed(ack);
        log.warn('ignored an HL7 ACK for another message', {
          host: target.host,
          port: target.port,
          messageControlId: ack.messageControlId,
          ackCode: ack.code,
          reason: 'MSA-2 differs from the sent MSH-10',
        });
      }
    });

    socket.on('error', (error) => {
      if (stage === 'connect') {
        const reason = `MLLP to ${peerName}: connection failed, check the RIS host, port and firewall`;
        fail(new MllpConnectionError(reason, { cause: error }));
      } else {
        const reason = `MLLP to ${peerName}: connection lost before the ACK of MSH-10 ${messageControlId}`;
        fail(new MllpClosedError(reason, { cause: error }));
      }
    });

    socket.on('close', () => {
      const reason = `MLLP to ${peerName}: the receiver closed the connection before the ACK of MSH-10`;
      fail(new MllpClosedError(`${reason} ${messageControlId}`));
    });
  });
}

/** Returns the parsed ACK, or the parse error so that the caller can reject with it. */
function parseAckFrame(frame: Buffer, target: MllpTarget): HL7Ack | Hl7AckInvalidError {
  try {
    return parseHl7Ack(frame.toString('utf8'));
  } catch (error) {
    if (!(error instanceof Hl7AckInvalidError)) throw error;
    return new Hl7AckInvalidError(`MLLP from ${target.host}:${target.port}: ${error.message}`, { cause: error });
  }
}
