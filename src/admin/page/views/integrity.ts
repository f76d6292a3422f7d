/** Verify the directory and repair what verify finds (a preview first, then for real). */
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote, html, useAction, useShell } from '../ui.js';

interface Problem {
  path: string;
  kind: string;
  message: string;
}

interface Repair {
  dryRun: boolean;
  actions: (Problem & { action: string; to?: string })[];
  remaining: Problem[];
}

export function IntegrityView() {
  const { announce } = useShell();
  const [verified, setVerified] = useState<{ ok: boolean; problems: Problem[] } | undefined>(undefined);
  const [repair, setRepair] = useState<Repair | undefined>(undefined);
  const action = useAction();
  const verify = async () => {
    const result = await action.run(() => call<{ ok: boolean; problems: Problem[] }>('GET', 'verify'));
    if (result) {
      setVerified(result);
      announce(result.ok ? 'Verify: no problems.' : `Verify: ${result.problems.length} problems.`);
    }
  };
  const repairIt = async (dryRun: boolean) => {
    const result = await action.run(() => call<Repair>('POST', `repair${dryRun ? '?dryRun=1' : ''}`));
    if (result) {
      setRepair(result);
      announce(`Repair${dryRun ? ' preview' : ''}: ${result.actions.length} actions, ${result.remaining.length} problems left.`);
    }
  };
  return html`
    <h2>Verify and repair</h2>
    <div class="toolbar">
      <button type="button" onClick=${verify} disabled=${action.busy}>Verify</button>
      <button type="button" onClick=${() => repairIt(true)} disabled=${action.busy}>Preview repair</button>
      <button type="button" class="danger" onClick=${() => repairIt(false)} disabled=${action.busy}>Repair</button>
    </div>
    <${ErrorNote} error=${action.error} />
    ${verified && html`<section aria-labelledby="verify-title"><h3 id="verify-title">${verified.ok ? 'No problems found' : `${verified.problems.length} problems`}</h3>
      <${Problems} problems=${verified.problems} /></section>`}
    ${repair && html`<section aria-labelledby="repair-title"><h3 id="repair-title">${repair.dryRun ? 'Repair would' : 'Repair did'}: ${repair.actions.length} actions</h3>
      <ul>${repair.actions.map((a) => html`<li><code>${a.path}</code> ${a.action}${a.to ? ` → ${a.to}` : ''}: ${a.message}</li>`)}</ul>
      ${repair.remaining.length > 0 && html`<h4>Left for a human</h4><${Problems} problems=${repair.remaining} />`}</section>`}`;
}

function Problems({ problems }: { problems: Problem[] }) {
  if (problems.length === 0) return null;
  return html`<ul>${problems.map((p) => html`<li><code>${p.path}</code> <strong>${p.kind}</strong>: ${p.message}</li>`)}</ul>`;
}
