/** Looks up configured DICOM destinations for `echo` and `doctor`, with their TLS files read. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { AppConfig } from '../config/load.ts';
import type { EchoTarget } from './c-echo-scu.ts';
import { CommandError } from './output.ts';

export type DicomDestination = AppConfig['dicom']['destinations'][number];

/** Finds a destination by name, then by AE title; throws a CommandError that lists the configured ones. */
export function findDicomDestination(config: AppConfig, peer: string): DicomDestination {
  const destinations = config.dicom.destinations;
  const found = destinations.find((item) => item.name === peer) ?? destinations.find((item) => item.aeTitle === peer);
  if (found) return found;

  if (config.dicom.peers.some((item) => item.aeTitle === peer)) {
    throw new CommandError(`${peer} is a calling peer (dicom.peers), which has no port to call; only dicom.destinations can be echoed`);
  }
  const known = destinations.map((item) => `${item.name} (${item.aeTitle})`).join(', ') || 'none';
  throw new CommandError(`no DICOM destination named or titled "${peer}" in dicom.destinations; configured: ${known}`);
}

export function echoTarget(config: AppConfig, destination: DicomDestination): EchoTarget {
  const base = path.dirname(config.configPath);
  const read = (file: string | undefined, key: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    const absolute = path.resolve(base, file);
    try {
      return readFileSync(absolute);
    } catch (error) {
      throw new CommandError(`dicom.destinations ${destination.name}: tls.${key} ${absolute} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  };
  const target: EchoTarget = { aeTitle: destination.aeTitle, host: destination.host, port: destination.port };
  if (destination.tls) {
    target.tls = {
      ca: read(destination.tls.caFile, 'caFile'),
      cert: read(destination.tls.certFile, 'certFile'),
      key: read(destination.tls.keyFile, 'keyFile'),
      rejectUnauthorized: destination.tls.rejectUnauthorized,
    };
  }
  return target;
}

export function callingAeTitle(config: AppConfig): string {
  return config.dicom.callingAeTitle ?? config.dicom.listener.aeTitle;
}
