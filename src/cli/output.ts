/** Output helpers shared by the command modules under src/cli/. */
import os from 'node:os';

/** Prints rows as a left-aligned table with a header line. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  process.stdout.write(`${[line(header), ...rows.map(line)].join('\n')}\n`);
}

/** Returns the operating-system account that runs the command, which audit rows name as the actor. */
export function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

/** An error whose message is the whole story for the user; the CLI prints it and exits with code 1. */
export class CommandError extends Error {}
