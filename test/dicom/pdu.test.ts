import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CommandField, encodeResponse, readCommandSet } from '../../src/dicom/dimse-command.ts';
import { AbortReason, describeAbort, encodeCommandPDataTf, PduError, PduReader, PduType, readApplicationContextName, type PdvHeader } from '../../src/dicom/pdu.ts';

/** Builds a P-DATA-TF PDU with the given PDVs. */
function pDataTf(pdvs: { pcId: number; control: number; value: Buffer }[]): Buffer {
  const items = pdvs.map((pdv) => {
    const item = Buffer.alloc(6 + pdv.value.length);
    item.writeUInt32BE(2 + pdv.value.length, 0);
    item[4] = pdv.pcId;
    item[5] = pdv.control;
    pdv.value.copy(item, 6);
    return item;
  });
  const body = Buffer.concat(items);
  const header = Buffer.alloc(6);
  header[0] = PduType.PDataTf;
  header.writeUInt32BE(body.length, 2);
  return Buffer.concat([header, body]);
}

interface Recorded {
  control: Buffer[];
  pdvs: { header: PdvHeader; value: Buffer }[];
}

function recordingReader(limits = { maxPDataLength: 1 << 20, maxOtherLength: 1 << 20 }): { reader: PduReader; recorded: Recorded } {
  const recorded: Recorded = { control: [], pdvs: [] };
  let current: { header: PdvHeader; parts: Buffer[] } | undefined;
  const reader = new PduReader(limits, {
    onControlPdu: (pdu) => recorded.control.push(Buffer.from(pdu)),
    onPdvStart: (header) => (current = { header, parts: [] }),
    onPdvData: (data) => current!.parts.push(Buffer.from(data)),
    onPdvEnd: () => recorded.pdvs.push({ header: current!.header, value: Buffer.concat(current!.parts) }),
  });
  return { reader, recorded };
}

describe('PDU reader', () => {
  const release = Buffer.from([PduType.ReleaseRq, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
  const dataset = Buffer.from(Array.from({ length: 1000 }, (_, index) => index % 251));
  const stream = Buffer.concat([
    pDataTf([
      { pcId: 1, control: 0x03, value: Buffer.from('command') },
      { pcId: 1, control: 0x00, value: dataset.subarray(0, 400) },
    ]),
    pDataTf([{ pcId: 1, control: 0x02, value: dataset.subarray(400) }]),
    release,
  ]);

  for (const chunkSize of [1, 5, 7, 64, stream.length]) {
    it(`splits a stream fed in ${chunkSize}-byte chunks`, () => {
      const { reader, recorded } = recordingReader();
      for (let offset = 0; offset < stream.length; offset += chunkSize) reader.push(stream.subarray(offset, offset + chunkSize));

      assert.equal(recorded.pdvs.length, 3);
      assert.deepEqual(recorded.pdvs[0]!.header, { presentationContextId: 1, isCommand: true, isLast: true, length: 7 });
      assert.equal(recorded.pdvs[0]!.value.toString(), 'command');
      assert.equal(recorded.pdvs[1]!.header.isLast, false);
      assert.ok(Buffer.concat([recorded.pdvs[1]!.value, recorded.pdvs[2]!.value]).equals(dataset));
      assert.equal(recorded.pdvs[2]!.header.isLast, true);
      assert.equal(recorded.control.length, 1);
      assert.ok(recorded.control[0]!.equals(release));
    });
  }

  it('rejects an unknown PDU type', () => {
    const { reader } = recordingReader();
    assert.throws(
      () => reader.push(Buffer.from([0x09, 0, 0, 0, 0, 0])),
      (error: unknown) => error instanceof PduError && error.code === 'unrecognized_pdu' && error.abortReason === AbortReason.UnrecognizedPdu,
    );
  });

  it('rejects a P-DATA-TF above the announced maximum', () => {
    const { reader } = recordingReader({ maxPDataLength: 100, maxOtherLength: 100 });
    const pdu = pDataTf([{ pcId: 1, control: 0, value: Buffer.alloc(200) }]);
    assert.throws(() => reader.push(pdu), (error: unknown) => error instanceof PduError && error.code === 'pdu_too_large');
  });

  it('rejects a PDV longer than its PDU', () => {
    const { reader } = recordingReader();
    const pdu = pDataTf([{ pcId: 1, control: 0, value: Buffer.alloc(20) }]);
    pdu.writeUInt32BE(500, 6);
    assert.throws(() => reader.push(pdu), (error: unknown) => error instanceof PduError && error.code === 'invalid_pdv');
  });

  it('reads the application context name', () => {
    const rq = Buffer.alloc(74 + 4 + 21);
    rq[0] = PduType.AssociateRq;
    rq[74] = 0x10;
    rq.writeUInt16BE(21, 76);
    rq.write('1.2.840.10008.3.1.1.1', 78, 'ascii');
    assert.equal(readApplicationContextName(rq), '1.2.840.10008.3.1.1.1');
  });
});

describe('DIMSE command set', () => {
  it('writes a C-STORE-RSP that reads back', () => {
    const response = encodeResponse({
      commandField: CommandField.CStoreRsp,
      messageIdBeingRespondedTo: 7,
      affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      affectedSopInstanceUid: '1.2.3.4.5',
      status: 0xa900,
      errorComment: 'SOP Class UID of the dataset differs from the C-STORE command',
    });
    const read = readCommandSet(response);
    assert.equal(read.commandField, CommandField.CStoreRsp);
    assert.equal(read.affectedSopClassUid, '1.2.840.10008.5.1.4.1.1.2');
    assert.equal(read.affectedSopInstanceUid, '1.2.3.4.5');
    assert.equal(read.hasDataset, false);
    // Command Group Length (0000,0000) counts every byte after its own element.
    assert.equal(response.readUInt32LE(8), response.length - 12);
  });

  it('shortens a long Error Comment at a word', () => {
    const errorCommentOf = (comment: string): string => {
      const response = encodeResponse({
        commandField: CommandField.CStoreRsp,
        messageIdBeingRespondedTo: 1,
        affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
        status: 0xc000,
        errorComment: comment,
      });
      // (0000,0902) in Implicit VR Little Endian: tag, 4-byte length, value.
      const offset = response.indexOf(Buffer.from([0x00, 0x00, 0x02, 0x09]));
      assert.ok(offset > 0, 'no Error Comment element');
      const length = response.readUInt32LE(offset + 4);
      assert.equal(length % 2, 0, 'odd value length');
      return response.toString('latin1', offset + 8, offset + 8 + length).trimEnd();
    };

    const fits = 'SOP Instance UID of the dataset differs from the C-STORE command';
    assert.equal(fits.length, 64);
    assert.equal(errorCommentOf(fits), fits);

    const shortened = errorCommentOf('the dataset cannot be parsed: element (7FE0,0010) runs past the end of the dataset');
    assert.equal(shortened, 'the dataset cannot be parsed: element (7FE0,0010) runs past...');
    assert.ok(shortened.length <= 64);

    const oneWord = errorCommentOf('x'.repeat(80));
    assert.equal(oneWord, `${'x'.repeat(61)}...`);
  });

  it('wraps a command set in one last-fragment PDV', () => {
    const pdu = encodeCommandPDataTf(3, Buffer.from('abcd'));
    assert.equal(pdu[0], PduType.PDataTf);
    assert.equal(pdu.readUInt32BE(2), 10);
    assert.equal(pdu[10], 3);
    assert.equal(pdu[11], 0x03);
  });
});

describe('A-ABORT description', () => {
  it('names source and reason', () => {
    assert.equal(describeAbort(0, 0), 'service user (the peer application)');
    assert.equal(describeAbort(2, AbortReason.UnexpectedPdu), 'service provider: unexpected PDU');
    assert.equal(describeAbort(2, AbortReason.InvalidPduParameterValue), 'service provider: invalid PDU parameter value');
    assert.equal(describeAbort(2, 3), 'service provider: reason 3');
    assert.equal(describeAbort(1, 9), 'source 1, reason 9');
  });
});
