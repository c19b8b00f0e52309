/**
 * Reads the attributes the database keeps from a dcmjs-naturalized header. dcmjs returns a single value
 * as a scalar or a one-element array depending on the element, and person names as objects, so every
 * attribute goes through one of these readers.
 */
import type { NaturalDataset } from '../dicom/part10.ts';

export function stringValue(dataset: NaturalDataset, keyword: string): string | null {
  const value = dataset[keyword];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined || first === null) return null;
  const text = String(first).trim();
  return text === '' ? null : text;
}

export function stringValues(dataset: NaturalDataset, keyword: string): string[] | null {
  const value = dataset[keyword];
  if (value === undefined || value === null || value === '') return null;
  const values = Array.isArray(value) ? value : String(value).split('\\');
  return values.map((item) => String(item).trim());
}

export function numberValue(dataset: NaturalDataset, keyword: string): number | null {
  const value = dataset[keyword];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined || first === null || first === '') return null;
  const number = Number(first);
  return Number.isFinite(number) ? number : null;
}

export function numberValues(dataset: NaturalDataset, keyword: string, expectedCount: number): number[] | null {
  const value = dataset[keyword];
  if (value === undefined || value === null || value === '') return null;
  const values = (Array.isArray(value) ? value : String(value).split('\\')).map(Number);
  return values.length === expectedCount && values.every(Number.isFinite) ? values : null;
}

/** Person Name as its alphabetic component group in DICOM form (Family^Given^Middle^Prefix^Suffix). */
export function personNameValue(dataset: NaturalDataset, keyword: string): string | null {
  const value = dataset[keyword];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined || first === null) return null;
  if (typeof first === 'object') {
    const alphabetic = (first as { Alphabetic?: unknown }).Alphabetic;
    return typeof alphabetic === 'string' && alphabetic.trim() !== '' ? alphabetic.trim() : null;
  }
  const text = String(first).trim();
  return text === '' ? null : text;
}
