/** `argus-gateway echo <peer>`: one C-ECHO to a configured DICOM destination, with its round-trip time. */
import type { Command } from 'commander';

import type { AppConfig } from '../config/load.ts';
import { sendCEcho } from './c-echo-scu.ts';
import { callingAeTitle, echoTarget, findDicomDestination } from './dicom-destinations.ts';
import { CommandError } from './output.ts';

export function registerEchoCommand(program: Command, loadConfig: () => AppConfig): void {
  program
    .command('echo')
    .description('send a C-ECHO to a DICOM destination of dicom.destinations and print the round-trip time')
    .argument('<peer>', 'destination name or AE title')
    .option('--timeout <seconds>', 'seconds to wait for the whole exchange (default: dicom.timeoutSeconds)', parseSeconds)
    .action(async (peer: string, options: { timeout?: number }) => {
      const config = loadConfig();
      const destination = findDicomDestination(config, peer);
      const target = echoTarget(config, destination);
      const timeoutMs = (options.timeout ?? config.dicom.timeoutSeconds) * 1000;
      const described = `${destination.name} (${destination.aeTitle} at ${destination.host}:${destination.port})`;
      try {
        const result = await sendCEcho(target, callingAeTitle(config), timeoutMs);
        process.stdout.write(`C-ECHO to ${described} succeeded in ${result.roundTripMs} ms.\n`);
      } catch (error) {
        throw new CommandError(`C-ECHO to ${described} failed: ${(error as Error).message}`);
      }
    });
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new CommandError(`--timeout must be a positive number of seconds, got "${value}"`);
  return seconds;
}
