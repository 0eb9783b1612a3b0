/**
 * `keyctl checklist [bot]`: the go-live checklist (src/app/checklist.ts, docs/go-live.md), one row per item and bot.
 * Reads only what keyctl holds (store, audit log, config, the host's files): no exchange call. Each bot's verdict is
 * recorded in the audit log (what `exec --strict` reads). Exit 0 when every required row passes, 3 otherwise.
 */
import { readFile } from 'node:fs/promises';
import { botVerdicts, checklist, type ChecklistReport, type HostVerdicts } from '../../app/checklist.js';
import { configSecrets, masterKeyPlacement, storePermissions, type HostVerdict } from '../../app/checklist-host.js';
import type { Config } from '../../config/load.js';
import { ExitCode } from '@keyctl/client/errors';
import { table } from '../output.js';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx, args) => {
  const config = ctx.config();
  const [bot] = args;
  const store = await ctx.store();
  const audit = await ctx.audit();
  const report = await checklist(
    {
      inventory: config,
      store,
      audit,
      now: Date.now,
      checklist: config.checklist,
      alertChannels: Object.keys(config.alerts),
      host: await hostVerdicts(config, ctx.env),
    },
    bot === undefined ? {} : { bot },
  );
  // Recorded (audited) per bot before the report is printed: `exec --strict` reads the last verdict.
  const events = await ctx.events();
  for (const v of botVerdicts(report)) await events.emit({ type: 'checklist.verdict', ...v });
  ctx.out.result(report, () => human(report));
  return report.ok ? ExitCode.OK : ExitCode.POLICY;
};

/** The checks of this host's files, gathered here so the application layer reads neither the environment nor the disk. */
async function hostVerdicts(config: Config, env: NodeJS.ProcessEnv): Promise<HostVerdicts> {
  const storeDir = config.store.provider === 'local' ? config.store.path : undefined;
  // The key as this process holds it (KEYCTL_MASTER_KEY_FILE and the systemd credential are read into it at start-up).
  const secrets = [env.KEYCTL_MASTER_KEY, env.KEYCTL_PASSPHRASE].filter((s): s is string => typeof s === 'string' && s.length > 0);
  let configText: HostVerdict | string;
  try {
    configText = await readFile(config.file, 'utf8');
  } catch (err) {
    configText = {
      status: 'fail',
      evidence: `cannot read ${config.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      fix: 'check the config file',
    };
  }
  return {
    storePermissions: await storePermissions(storeDir, config.store.provider),
    masterKeyPlacement: await masterKeyPlacement({ storeDir, configFile: config.file, secrets }),
    configSecrets: typeof configText === 'string' ? configSecrets(config.file, configText) : configText,
  };
}

const MARK = { pass: 'pass', fail: 'FAIL', due: 'DUE' } as const;

function human(report: ChecklistReport): string {
  const rows = report.rows.map((r) => [
    r.bot ?? '(setup)',
    r.id,
    r.kind === 'attested' ? 'attested' : 'auto',
    `${MARK[r.status]}${r.required ? '' : ' (optional)'}`,
    r.evidence,
  ]);
  const failing = report.rows.filter((r) => r.status !== 'pass');
  const required = failing.filter((r) => r.required);
  const fixes = failing.filter((r) => r.fix).map((r) => `  ${r.bot ?? '(setup)'} ${r.id}: ${r.fix}`);
  const verdict = report.ok
    ? `Every required item passes (checked ${report.checkedAt}).`
    : report.rows.some((r) => r.bot !== null)
      ? `${required.length} required item(s) do not pass (checked ${report.checkedAt}): not ready for live capital.`
      : 'No bot is declared under bots: in the config, so none is ready for live capital.';
  return [table(['bot', 'item', 'kind', 'status', 'evidence'], rows), verdict, ...(fixes.length ? ['To fix:', ...fixes] : [])].join('\n');
}
