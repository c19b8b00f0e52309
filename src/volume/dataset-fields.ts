/**
 * Typed access to attributes of a dcmjs naturalized dataset (keyword -> value). dcmjs parses DS, IS and
 * US values to numbers and returns multi-valued attributes as arrays. A value it cannot parse stays NaN
 * or a string, so every read checks the type and raises a coded VolumeError naming the attribute.
 */
import { VolumeError } from './volume-error.ts';

export type NaturalizedDataset = Record<string, unknown>;

/** Unwraps a single-valued attribute that dcmjs may still deliver as a one-element array. */
function firstValue(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

function toNumber(value: unknown): number | undefined {
  const candidate = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof candidate === 'number' && Number.isFinite(candidate) ? candidate : undefined;
}

function isAbsent(value: unknown): boolean {
  return value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
}

function missing(keyword: string, filePath: string): VolumeError {
  return new VolumeError('missing_attribute', `The image has no ${keyword}, which is needed to build the volume.`, {
    filePath,
  });
}

function invalid(keyword: string, value: unknown, filePath: string): VolumeError {
  return new VolumeError('invalid_attribute', `The image has an invalid ${keyword}: ${JSON.stringify(value)}.`, {
    filePath,
  });
}

export function optionalNumber(dataset: NaturalizedDataset, keyword: string, filePath: string): number | undefined {
  const value = dataset[keyword];
  if (isAbsent(value)) return undefined;
  const parsed = toNumber(firstValue(value));
  if (parsed === undefined) throw invalid(keyword, value, filePath);
  return parsed;
}

export function requireNumber(dataset: NaturalizedDataset, keyword: string, filePath: string): number {
  const parsed = optionalNumber(dataset, keyword, filePath);
  if (parsed === undefined) throw missing(keyword, filePath);
  return parsed;
}

/** Reads a multi-valued numeric attribute (DS or IS) that must have exactly `count` values. */
export function requireNumbers(
  dataset: NaturalizedDataset,
  keyword: string,
  count: number,
  filePath: string,
): number[] {
  const value = dataset[keyword];
  if (isAbsent(value)) throw missing(keyword, filePath);
  const items = Array.isArray(value) ? value : [value];
  const parsed = items.map(toNumber);
  if (parsed.length !== count || parsed.some((item) => item === undefined)) throw invalid(keyword, value, filePath);
  return parsed as number[];
}

export function optionalString(dataset: NaturalizedDataset, keyword: string): string | undefined {
  const value = firstValue(dataset[keyword]);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

export function requireString(dataset: NaturalizedDataset, keyword: string, filePath: string): string {
  const value = optionalString(dataset, keyword);
  if (value === undefined) throw missing(keyword, filePath);
  return value;
}
