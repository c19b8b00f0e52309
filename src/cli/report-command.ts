/**
 * `argus-gateway report <folder>`: writes a draft report for the DICOM files in one folder, with no
 * database and no network, and prints it. A progress bar goes to stderr when stderr is a terminal, so
 * stdout holds only the report. The work is in report-folder.ts, which is imported only when the
 * command runs, so that other commands do not load onnxruntime and the model code.
 */
import type { Command } from 'commander';
import pino from 'pino';

import type { AppConfig } from '../config/load.ts';
import { configureLogging } from '../logging/logger.ts';
import { ProgressBar } from './progress-bar.ts';

/** Adds `report` to the program; `readConfig` loads the configuration named by the global --config option. */
export function registerReportCommand(program: Command, readConfig: () => AppConfig): void {
  program
    .command('report')
    .description('write a draft report for the DICOM files in a folder and print it, without database or network')
    .argument('<folder>', 'folder with the DICOM files of one study; subfolders are read too')
    .option('--json', 'print JSON: report text and sections, model, series, volume size and stage timings in ms')
    .option('--model <folder>', 'model package folder (default: model.packagePath of the configuration)')
    .action(async (folder: string, options: { json?: boolean; model?: string }) => {
      const config = readConfig();
      // Logs go to stderr, so that stdout carries only the report.
      configureLogging('warn', pino.destination({ dest: 2, sync: true }));
      const progress = new ProgressBar(process.stderr);
      try {
        const { reportFolder } = await import('./report-folder.ts');
        const result = await reportFolder(config, folder, { modelPath: options.model, progress });
        progress.clear();
        process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.report.text}\n`);
      } finally {
        progress.clear();
      }
    });
}

