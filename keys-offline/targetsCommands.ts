// Top-level targets and the bins: `init-targets`, `edit-targets` (the expiry is kept, see
// expiry.ts), `bump-bins` (a renewal of every bin) and `migrate-to-bins`.
import path from 'node:path';
import {
  DAY_SECONDS,
  DEFAULT_BIN_EXPIRY_SECONDS,
  DEFAULT_TARGETS_EXPIRY_SECONDS,
  editedTargetsSigned,
  initialTargetsSigned,
} from '../core/ceremony.ts';
import { bumpAllBins, migrateToBins, writeInitialBins } from './bins.ts';
import { chooseExpiry, describeExpiry, expiresDaysOption, withExpiry, type ExpiryMode } from './expiry.ts';
import { readEnvelopeFile, writeJson } from './files.ts';
import { binLayoutOption, fail, parseAdds, say, unsigned, usage, type CommandContext } from './options.ts';

function expiry(ctx: CommandContext, what: 'targets' | 'bin', mode: ExpiryMode, current?: { expires?: unknown; version?: unknown }) {
  const defaultSeconds = what === 'targets' ? DEFAULT_TARGETS_EXPIRY_SECONDS : DEFAULT_BIN_EXPIRY_SECONDS;
  return chooseExpiry({ now: ctx.now, days: expiresDaysOption(ctx.values['expires-days']), defaultSeconds, mode }, current);
}

export function initTargets(ctx: CommandContext): number {
  const { values, now } = ctx;
  const out = values.out ?? usage('init-targets needs --out');
  const layout = values['bins-key'] ? binLayoutOption(values) : undefined;
  const targetsExpiry = expiry(ctx, 'targets', 'new');
  const signed = withExpiry(initialTargetsSigned(now, parseAdds(values.add), undefined, layout), targetsExpiry);
  writeJson(out, unsigned(signed));
  say(`wrote unsigned targets v1 to ${out}; ${describeExpiry(targetsExpiry)}`);
  if (layout) {
    const dir = values['bins-out'] ?? path.join(path.dirname(out), 'bins');
    const binExpiry = expiry(ctx, 'bin', 'new');
    const days = expiresDaysOption(values['expires-days']);
    const n = writeInitialBins(dir, layout.count, now, days === undefined ? DEFAULT_BIN_EXPIRY_SECONDS : days * DAY_SECONDS);
    say(
      `wrote v1 of ${n} bins (unsigned) to ${dir}; every bin ${describeExpiry(binExpiry)}`,
      `sign them with the bins keys: tuf-offline sign ${dir}/*.json --key KEY`,
    );
  } else {
    say('flat layout: every project is delegated by top-level targets (for large repositories use --bins-key)');
  }
  return 0;
}

export function editTargets(ctx: CommandContext): number {
  const { values, now } = ctx;
  const from = readEnvelopeFile(values.from ?? usage('edit-targets needs --from'));
  const out = values.out ?? usage('edit-targets needs --out');
  const chosen = expiry(ctx, 'targets', 'edit', from.signed);
  const edited = editedTargetsSigned(from.signed, { add: parseAdds(values.add), remove: values.remove ?? [] }, now);
  const signed = withExpiry(edited, chosen);
  writeJson(out, unsigned(signed));
  say(`wrote unsigned targets v${String(signed.version)} to ${out}; ${describeExpiry(chosen)}`);
  return 0;
}

export function bumpBins(ctx: CommandContext): number {
  const { values, now } = ctx;
  const binDir = values.bins ?? usage('bump-bins needs --bins DIR');
  const out = values.out ?? usage('bump-bins needs --out DIR');
  const written = bumpAllBins(binDir, out, now, (current) => expiry(ctx, 'bin', 'renewal', current));
  if (written.length === 0) fail(`${binDir} holds no bin files (bin-XXX.json; \`tuf-carry pull --all-bins\` fetches them)`);
  const versions = [...new Set(written.map((w) => w.version))].sort((a, b) => a - b);
  say(
    `wrote ${written.length} unsigned bins to ${out} (${versions.length === 1 ? `v${versions[0]}` : `v${versions[0]} to v${versions.at(-1)}`}); every bin ${describeExpiry(written[0]!.expiry)}`,
    'sign them with the bins keys, then push them (tuf-carry push OUT/*.json)',
  );
  return 0;
}

export function migrate(ctx: CommandContext): number {
  const { values, now } = ctx;
  const from = readEnvelopeFile(values.from ?? usage('migrate-to-bins needs --from TARGETS'));
  const layout = binLayoutOption(values);
  const out = values.out ?? usage('migrate-to-bins needs --out DIR');
  const chosen = { targets: expiry(ctx, 'targets', 'edit', from.signed), bins: expiry(ctx, 'bin', 'new') };
  const result = migrateToBins(from.signed, layout, out, now, chosen);
  say(
    `wrote unsigned ${result.targets} (targets v${result.version}; sign with the targets keys); ${describeExpiry(chosen.targets)}`,
    `wrote ${result.bins} bins holding ${result.moved} moved delegations in ${path.join(out, 'bins')} (sign with the bins keys); every bin ${describeExpiry(chosen.bins)}`,
  );
  return 0;
}
