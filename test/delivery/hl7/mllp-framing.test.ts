import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MllpFrameTooLargeError } from '../../../src/delivery/hl7/errors.ts';
import { MllpFrameDecoder, encodeMllpFrame } from '../../../src/delivery/hl7/mllp-framing.ts';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;
const ONE_MIB = 1024 * 1024;

function decodeChunks(chunks: Buffer[], maxFrameBytes = ONE_MIB): { frames: string[]; skippedBytes: number } {
  const decoder = new MllpFrameDecoder({ maxFrameBytes });
  const frames = chunks.flatMap((chunk) => decoder.push(chunk)).map((frame) => frame.toString('utf8'));
  return { frames, skippedBytes: decoder.skippedBytes };
}

describe('MLLP framing', () => {
  it('wraps a message in VT ... FS CR as UTF-8', () => {
    const frame = encodeMllpFrame('MSH|é');

    assert.equal(frame[0], VT);
    assert.equal(frame[frame.length - 2], FS);
    assert.equal(frame[frame.length - 1], CR);
    assert.deepEqual(frame.subarray(1, -2), Buffer.from('MSH|é', 'utf8'));
    assert.equal(frame.length, 1 + Buffer.byteLength('MSH|é', 'utf8') + 2);
  });

  it('decodes two frames split at every byte', () => {
    const messages = ['MSH|^~\\&|A\rMSA|AA|1\r', 'MSH|^~\\&|B\rMSA|AE|2 Zoë 中\r'];
    const stream = Buffer.concat(messages.map(encodeMllpFrame));

    for (let cut = 0; cut <= stream.length; cut++) {
      const { frames, skippedBytes } = decodeChunks([stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(frames, messages, `cut at byte ${cut}`);
      assert.equal(skippedBytes, 0, `cut at byte ${cut}`);
    }
  });

  it('decodes frames fed one byte at a time', () => {
    const messages = ['first 中文', 'second ł'];
    const stream = Buffer.concat(messages.map(encodeMllpFrame));
    const bytes = [...stream].map((byte) => Buffer.of(byte));

    assert.deepEqual(decodeChunks(bytes).frames, messages);
  });

  it('decodes several frames in one chunk', () => {
    const messages = ['one', 'two', 'three'];

    assert.deepEqual(decodeChunks([Buffer.concat(messages.map(encodeMllpFrame))]).frames, messages);
  });

  it('skips bytes outside frames', () => {
    const stream = Buffer.concat([
      Buffer.from('noise'),
      encodeMllpFrame('one'),
      Buffer.from('\n'),
      encodeMllpFrame('two'),
    ]);
    const { frames, skippedBytes } = decodeChunks([stream]);

    assert.deepEqual(frames, ['one', 'two']);
    assert.equal(skippedBytes, 'noise'.length + 1);
  });

  it('accepts a frame that ends with FS alone', () => {
    const stream = Buffer.concat([Buffer.of(VT), Buffer.from('one'), Buffer.of(FS), encodeMllpFrame('two')]);

    assert.deepEqual(decodeChunks([stream]).frames, ['one', 'two']);
  });

  it('restarts at a VT inside a frame', () => {
    const stream = Buffer.concat([Buffer.of(VT), Buffer.from('abandoned'), encodeMllpFrame('kept')]);
    const { frames, skippedBytes } = decodeChunks([stream.subarray(0, 5), stream.subarray(5)]);

    assert.deepEqual(frames, ['kept']);
    assert.equal(skippedBytes, 'abandoned'.length);
  });

  it('rejects a frame over the size limit', () => {
    const decoder = new MllpFrameDecoder({ maxFrameBytes: 10 });
    decoder.push(Buffer.concat([Buffer.of(VT), Buffer.from('12345')]));

    assert.throws(
      () => decoder.push(Buffer.from('678901')),
      (error: unknown) => error instanceof MllpFrameTooLargeError && error.code === 'mllp_frame_too_large',
    );
    assert.deepEqual(
      decoder.push(encodeMllpFrame('short')).map((frame) => frame.toString()),
      ['short'],
      'the decoder recovers at the next VT',
    );
  });
});
