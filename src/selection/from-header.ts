/**
 * Builds the selection summary of an instance from its header as volume/image-header.ts reads it, so
 * that selection gets every frame of a multi-frame image with its FrameType and geometry.
 */
import type { ImageHeader } from '../volume/image-header.ts';
import type { InstanceSummary } from './instance-rules.ts';

export function summarizeHeader(header: ImageHeader): InstanceSummary {
  const frames = header.frames ?? [];
  const first = frames[0];
  const summary: InstanceSummary = {
    sopInstanceUid: header.sopInstanceUid,
    sopClassUid: header.sopClassUid,
    modality: header.modality,
    imageType: first?.frameNumber === undefined ? (first?.imageType ?? header.imageType) : header.imageType,
    imageOrientationPatient: first?.imageOrientationPatient,
    imagePositionPatient: first?.imagePositionPatient,
    rows: header.rows,
    columns: header.columns,
    sliceThickness: first?.sliceThickness,
    convolutionKernel: first?.convolutionKernel,
  };
  if (first?.frameNumber !== undefined) {
    summary.frames = frames.map((frame) => ({
      imageType: frame.imageType,
      imageOrientationPatient: frame.imageOrientationPatient,
      sliceThickness: frame.sliceThickness,
      convolutionKernel: frame.convolutionKernel,
    }));
  }
  return summary;
}
