/**
 * `argus-gateway token create|list|revoke`: API tokens of the admin API. While the service runs on the
 * embedded database, the commands go through its control socket, because only one process may open
 * PGlite. Otherwise they open the database themselves.
 */
import type { Command } from 'commander';

import { API_ROLES, handleTokenControlRequest, type ApiTokenItem, type CreatedApiToken } from '../api/api-tokens.ts';
import { sendControlRequest, type ControlRequest } from '../api/local-control.ts';
import type { AppConfig } from '../config/load.ts';
import { controlSocketPath, embeddedDatabaseHeldElsewhere, openDatabase } from '../db/open-database.ts';
import { configureLogging } from '../logging/logger.ts';

export interface TokenCommandContext {
  loadConfig(): AppConfig;
  /** The operating-system account that runs the command; the audit row names it as the actor. */
  currentUser(): string;
  printTable(header: string[], rows: string[][]): void;
}

export function registerTokenCommands(program: Command, context: TokenCommandContext): void {
  const token = program.command('token').description('API tokens of the admin API and the web console');

  token
    .command('create')
    .description('create an API token and print it once; only its SHA-256 hash is stored')
    .requiredOption('--role <role>', `what the token may do: ${API_ROLES.join(', ')}`)
    .requiredOption('--name <name>', 'label of the token, shown in audit rows (letters, digits, . _ - @)')
    .option('--json', 'print JSON: id, name, role, token')
    .action(async (options: { role: string; name: string; json?: boolean }) => {
      const request: ControlRequest = { command: 'tokens.create', tokenName: options.name, tokenRole: options.role, actor: context.currentUser() };
      const created = (await runTokenRequest(context.loadConfig(), request)) as CreatedApiToken;
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ id: created.id, name: created.name, role: created.role, token: created.token }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(`Token "${created.name}" (${created.role}, id ${created.id}) created. It is shown only now; store it in a secret store.\n`);
    });

  token
    .command('list')
    .description('print the API tokens with their role and last use; never the tokens themselves')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const items = (await runTokenRequest(context.loadConfig(), { command: 'tokens.list' })) as ApiTokenItem[];
      if (options.json) {
        process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
        return;
      }
      context.printTable(
        ['id', 'name', 'role', 'created', 'created by', 'last used', 'revoked'],
        items.map((item) => [item.id, item.name, item.role, item.createdAt, item.createdBy, item.lastUsedAt ?? '', item.revokedAt ?? '']),
      );
    });

  token
    .command('revoke')
    .description('revoke an API token; requests that carry it are rejected from then on')
    .argument('<token>', 'id or name of the token, as token list prints it')
    .action(async (idOrName: string) => {
      const revoked = (await runTokenRequest(context.loadConfig(), { command: 'tokens.revoke', tokenName: idOrName, actor: context.currentUser() })) as ApiTokenItem;
      process.stdout.write(`Token "${revoked.name}" (id ${revoked.id}) revoked.\n`);
    });
}

async function runTokenRequest(config: AppConfig, request: ControlRequest): Promise<unknown> {
  configureLogging('warn');
  if (embeddedDatabaseHeldElsewhere(config)) return sendControlRequest(controlSocketPath(config), request);
  const opened = await openDatabase(config);
  try {
    await opened.database.migrate();
    return await handleTokenControlRequest(opened.database, request);
  } finally {
    await opened.close();
  }
}
