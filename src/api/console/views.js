// The console's three views: the studies table, a study's page and the audit log search. Views build
// DOM nodes with h(), never HTML strings, so patient names and report text are always shown as text.

import { getJson, getObjectUrl, postJson, queryString } from './api-client.js';

/** Creates an element; attributes starting with "on" become event listeners, children may be strings. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

const STAGE_LABELS = {
  receiving: 'Receiving images',
  queued: 'Waiting for the model',
  processing: 'Model running',
  failed: 'Failed',
  delivery_failed: 'Delivery failed',
  held: 'Waiting for approval',
  delivering: 'Delivering',
  done: 'Delivered',
};

const STUDY_STATES = ['receiving', 'complete', 'processing', 'reported', 'failed'];

function stageBadge(stage) {
  return h('span', { class: `badge stage-${stage}` }, STAGE_LABELS[stage] ?? stage);
}

function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** DICOM DA (YYYYMMDD) as YYYY-MM-DD. */
function formatDicomDate(value) {
  return value && /^\d{8}$/.test(value) ? `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6, 8)}` : (value ?? '');
}

/** DICOM PN with ^ separators as "Family, Given". */
function formatPersonName(value) {
  if (!value) return '';
  const [family = '', given = ''] = value.split('=')[0].split('^');
  return given ? `${family}, ${given}` : family;
}

function table(caption, headers, rows, emptyText) {
  if (rows.length === 0) return h('p', { class: 'empty' }, emptyText);
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((header) => h('th', { scope: 'col' }, header)))),
    h('tbody', {}, rows),
  );
}

// ---- Studies -------------------------------------------------------------------------------------

/** The studies table, refreshed every `pollMs` while it is shown; returns a function that stops it. */
export function showStudies(container, context, pollMs) {
  const filters = { q: '', status: '', limit: 50, offset: 0 };
  const results = h('div', { id: 'study-results' });
  const updated = h('p', { class: 'hint', id: 'studies-updated' });
  const search = h('input', { id: 'study-search', type: 'search', placeholder: 'Patient ID, name, accession number or UID' });
  const status = h('select', { id: 'study-status' }, h('option', { value: '' }, 'Any state'), STUDY_STATES.map((state) => h('option', { value: state }, state)));
  const form = h(
    'form',
    { class: 'filters', role: 'search', onsubmit: (event) => { event.preventDefault(); filters.q = search.value.trim(); filters.status = status.value; filters.offset = 0; void refresh(); } },
    h('label', { for: 'study-search' }, 'Search'),
    search,
    h('label', { for: 'study-status' }, 'State'),
    status,
    h('button', { type: 'submit' }, 'Find studies'),
  );
  container.replaceChildren(h('h1', { tabindex: '-1' }, 'Studies'), form, updated, results);

  async function refresh() {
    try {
      const page = await getJson(`/studies${queryString(filters)}`);
      results.replaceChildren(studiesTable(page, filters, refresh));
      updated.textContent = `${page.total} studies. Updated ${new Date().toLocaleTimeString()}; the table refreshes every ${Math.round(pollMs / 1000)} s.`;
    } catch (error) {
      context.report(error);
    }
  }

  void refresh();
  const timer = setInterval(() => void refresh(), pollMs);
  return () => clearInterval(timer);
}

function studiesTable(page, filters, refresh) {
  const rows = page.studies.map((study) =>
    h(
      'tr',
      {},
      h('td', {}, h('a', { href: `#/studies/${encodeURIComponent(study.studyInstanceUid)}` }, formatPersonName(study.patientName) || '(no name)')),
      h('td', {}, study.patientId ?? ''),
      h('td', {}, study.accessionNumber ?? ''),
      h('td', {}, formatDicomDate(study.studyDate)),
      h('td', {}, study.studyDescription ?? ''),
      h('td', { class: 'number' }, String(study.instanceCount)),
      h('td', {}, stageBadge(study.stage)),
      h('td', {}, formatTime(study.lastReceivedAt)),
    ),
  );
  const pager = h(
    'div',
    { class: 'pager' },
    h('button', { type: 'button', disabled: filters.offset === 0, onclick: () => { filters.offset = Math.max(0, filters.offset - filters.limit); void refresh(); } }, 'Previous page'),
    h('span', {}, page.total === 0 ? '' : `${filters.offset + 1}–${Math.min(filters.offset + filters.limit, page.total)} of ${page.total}`),
    h('button', { type: 'button', disabled: filters.offset + filters.limit >= page.total, onclick: () => { filters.offset += filters.limit; void refresh(); } }, 'Next page'),
  );
  return h(
    'div',
    {},
    table('Studies, most recently received first', ['Patient', 'Patient ID', 'Accession', 'Study date', 'Description', 'Instances received', 'Stage', 'Last received'], rows, 'No study matches.'),
    pager,
  );
}

// ---- One study -----------------------------------------------------------------------------------

/** Shows a study's page: progress, report, previews, series with selection reasons and deliveries. */
export async function showStudy(container, studyInstanceUid, context) {
  const objectUrls = [];
  container.replaceChildren(h('h1', { tabindex: '-1' }, 'Study'), h('p', {}, 'Loading…'));
  const study = await getJson(`/studies/${encodeURIComponent(studyInstanceUid)}`);
  const reportSection = h('section', { 'aria-labelledby': 'report-title' }, h('h2', { id: 'report-title' }, 'Report'));
  const previewSection = h('section', { 'aria-labelledby': 'preview-title' }, h('h2', { id: 'preview-title' }, 'Previews of the volume'));

  container.replaceChildren(
    h('p', {}, h('a', { href: '#/studies' }, '← All studies')),
    h('h1', { tabindex: '-1' }, `${formatPersonName(study.patientName) || '(no name)'} — ${study.studyDescription ?? 'study'}`),
    h(
      'dl',
      { class: 'facts' },
      fact('Patient ID', study.patientId),
      fact('Accession number', study.accessionNumber),
      fact('Study date', formatDicomDate(study.studyDate)),
      fact('StudyInstanceUID', study.studyInstanceUid),
      fact('Instances received', String(study.instanceCount)),
      h('dt', {}, 'Stage'),
      h('dd', {}, stageBadge(study.stage)),
      fact('State', study.stateReason ? `${study.state}: ${study.stateReason}` : study.state),
      fact('Last received', formatTime(study.lastReceivedAt)),
    ),
    h('button', { type: 'button', onclick: () => context.reload() }, 'Refresh'),
    reportSection,
    previewSection,
    seriesSection(study),
    deliveriesSection(study, context),
  );

  await Promise.all([fillReport(reportSection, study, context), fillPreviews(previewSection, study, objectUrls, context)]);
  return () => objectUrls.forEach((url) => URL.revokeObjectURL(url));
}

function fact(term, value) {
  return [h('dt', {}, term), h('dd', {}, value ?? '')];
}

async function fillReport(section, study, context) {
  const latest = study.reports[0];
  if (!latest) {
    section.append(h('p', { class: 'empty' }, 'No report yet.'));
    return;
  }
  try {
    const report = await getJson(`/reports/${latest.id}`);
    section.append(
      h('p', { class: 'hint' }, `${report.status}, ${report.model.name} ${report.model.version}, written ${formatTime(report.createdAt)}${study.reports.length > 1 ? `; ${study.reports.length - 1} earlier report(s)` : ''}`),
      h('h3', {}, 'Findings'),
      h('p', { class: 'report-text', id: 'report-findings' }, report.findings || '(empty)'),
      h('h3', {}, 'Impression'),
      h('p', { class: 'report-text', id: 'report-impression' }, report.impression || '(empty)'),
    );
  } catch (error) {
    context.report(error);
  }
}

async function fillPreviews(section, study, objectUrls, context) {
  const series = study.series.find((item) => item.selectionDecision === 'selected' && item.hasPreviews) ?? study.series.find((item) => item.hasPreviews);
  if (!series) {
    section.append(h('p', { class: 'empty' }, 'No previews: no series was assembled into a volume yet.'));
    return;
  }
  const figures = h('div', { class: 'previews' });
  section.append(h('p', { class: 'hint' }, `Middle slices of series ${series.seriesDescription ?? series.seriesInstanceUid}, soft-tissue window (W 400 / L 40).`), figures);
  for (const plane of ['axial', 'coronal', 'sagittal']) {
    try {
      const url = await getObjectUrl(`/series/${encodeURIComponent(series.seriesInstanceUid)}/previews/${plane}`, 'image/png');
      objectUrls.push(url);
      figures.append(h('figure', {}, h('img', { src: url, alt: `${plane} preview of the volume`, class: 'preview' }), h('figcaption', {}, plane[0].toUpperCase() + plane.slice(1))));
    } catch (error) {
      context.report(error);
    }
  }
}

function seriesSection(study) {
  const rows = study.series.map((series) =>
    h(
      'tr',
      {},
      h('td', {}, series.seriesNumber === null ? '' : String(series.seriesNumber)),
      h('td', {}, series.seriesDescription ?? ''),
      h('td', {}, series.modality ?? ''),
      h('td', { class: 'number' }, String(series.instanceCount)),
      h('td', {}, series.selectionDecision ?? 'not evaluated'),
      h('td', {}, series.selectionReason ?? ''),
      h('td', {}, volumeChecks(series.volumeChecks)),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'series-title' },
    h('h2', { id: 'series-title' }, 'Series and selection reasons'),
    table('Series of the study', ['No.', 'Description', 'Modality', 'Instances', 'Selection', 'Reason', 'Volume checks'], rows, 'No series.'),
  );
}

/** Renders the stored findings of volume assembly: { passed, checks: [{ name, passed, detail }], code, reason }. */
function volumeChecks(findings) {
  if (!findings) return '';
  const checks = Array.isArray(findings.checks) ? findings.checks : [];
  const failed = checks.filter((check) => check.passed === false).length;
  const summary = findings.passed === false ? `Rejected: ${findings.reason ?? findings.code ?? 'see checks'}` : `${checks.length} checks, ${failed} failed`;
  return h(
    'details',
    {},
    h('summary', {}, summary),
    h('ul', {}, checks.map((check) => h('li', {}, `${check.passed === false ? 'Failed' : 'Passed'}: ${check.name}${check.detail ? ` — ${check.detail}` : ''}`))),
  );
}

function deliveriesSection(study, context) {
  const rows = study.deliveries.map((delivery) => {
    const actions = [];
    if (context.canAct && (delivery.state === 'dead' || delivery.state === 'delivered')) {
      actions.push(actionButton('Replay', `Replay the ${kindLabel(delivery.kind)} to ${delivery.destination}`, `/deliveries/${delivery.id}/replay`, context));
    }
    if (context.canAct && delivery.state === 'held') {
      actions.push(actionButton('Approve', `Approve the ${kindLabel(delivery.kind)} to ${delivery.destination}`, `/deliveries/${delivery.id}/approve`, context));
    }
    return h(
      'tr',
      { 'data-delivery-id': delivery.id },
      h('td', {}, kindLabel(delivery.kind)),
      h('td', {}, delivery.destination),
      h('td', {}, h('span', { class: `badge delivery-${delivery.state}` }, delivery.state)),
      h('td', { class: 'number' }, String(delivery.attempts)),
      h('td', {}, delivery.lastError ?? ''),
      h('td', {}, formatTime(delivery.deliveredAt)),
      h('td', {}, actions),
    );
  });
  return h(
    'section',
    { 'aria-labelledby': 'deliveries-title' },
    h('h2', { id: 'deliveries-title' }, 'Deliveries'),
    context.canAct ? null : h('p', { class: 'hint' }, 'Replay and approve need an admin token.'),
    table('Deliveries of the study', ['Kind', 'Destination', 'State', 'Attempts', 'Last error', 'Delivered', 'Actions'], rows, 'No delivery yet.'),
  );
}

const KIND_LABELS = { hl7_oru: 'HL7 ORU^R01', dicom_sr: 'DICOM SR' };

function kindLabel(kind) {
  return KIND_LABELS[kind] ?? kind;
}

function actionButton(label, description, path, context) {
  return h(
    'button',
    {
      type: 'button',
      'aria-label': description,
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          const result = await postJson(path, {});
          context.announce(`${description}: done. The delivery is ${result.state}.`);
          context.reload();
        } catch (error) {
          button.disabled = false;
          if (isSupersededReplay(error, path) && window.confirm(`${error.message}\n\nReplay anyway?`)) {
            await replayAnyway(path, description, context);
            return;
          }
          context.report(error);
        }
      },
    },
    label,
  );
}

/** True for a rejected replay that `force` would let through: a later report was delivered to the destination. */
function isSupersededReplay(error, path) {
  return error.id === 'conflict' && path.endsWith('/replay') && error.message.includes('"force"');
}

async function replayAnyway(path, description, context) {
  try {
    const result = await postJson(path, { force: true });
    context.announce(`${description}: done although a later report was delivered. The delivery is ${result.state}.`);
    context.reload();
  } catch (error) {
    context.report(error);
  }
}

// ---- Audit log -----------------------------------------------------------------------------------

const AUDIT_FIELDS = [
  { name: 'since', label: 'From', type: 'datetime-local' },
  { name: 'until', label: 'Until', type: 'datetime-local' },
  { name: 'actor', label: 'Actor', type: 'text' },
  { name: 'studyInstanceUid', label: 'StudyInstanceUID', type: 'text' },
  { name: 'accessionNumber', label: 'Accession number', type: 'text' },
  { name: 'patientId', label: 'Patient ID', type: 'text' },
];

/** Shows the audit log search with its filters, result table and CSV export. */
export async function showAudit(container, context) {
  const document = await getJson('/openapi.json');
  const actions = document.components.schemas.AuditEvent.properties.action.enum;
  const inputs = {};
  const fields = AUDIT_FIELDS.map((field) => {
    inputs[field.name] = h('input', { id: `audit-${field.name}`, name: field.name, type: field.type });
    return h('div', { class: 'field' }, h('label', { for: `audit-${field.name}` }, field.label), inputs[field.name]);
  });
  inputs.action = h('select', { id: 'audit-action', name: 'action' }, h('option', { value: '' }, 'Any action'), actions.map((action) => h('option', { value: action }, action)));
  inputs.outcome = h('select', { id: 'audit-outcome', name: 'outcome' }, h('option', { value: '' }, 'Any outcome'), h('option', { value: 'success' }, 'success'), h('option', { value: 'failure' }, 'failure'));
  const paging = { limit: 50, offset: 0 };
  const results = h('div', { id: 'audit-results' });

  const parameters = () => {
    const values = { ...paging };
    for (const [name, input] of Object.entries(inputs)) {
      const value = input.value.trim();
      // datetime-local has no zone: the browser's local time is meant, sent as UTC.
      values[name] = value && input.type === 'datetime-local' ? new Date(value).toISOString() : value;
    }
    return values;
  };

  async function search() {
    try {
      const page = await getJson(`/audit-events${queryString(parameters())}`);
      results.replaceChildren(auditTable(page, paging, search));
    } catch (error) {
      context.report(error);
    }
  }

  async function exportCsv() {
    try {
      const { limit: _limit, offset: _offset, ...filters } = parameters();
      const url = await getObjectUrl(`/audit-events${queryString({ ...filters, format: 'csv' })}`, 'text/csv');
      const link = h('a', { href: url, download: 'audit-events.csv' });
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      context.announce('The CSV export was downloaded.');
    } catch (error) {
      context.report(error);
    }
  }

  container.replaceChildren(
    h('h1', { tabindex: '-1' }, 'Audit log'),
    h(
      'form',
      { class: 'filters audit-filters', role: 'search', onsubmit: (event) => { event.preventDefault(); paging.offset = 0; void search(); } },
      fields,
      h('div', { class: 'field' }, h('label', { for: 'audit-action' }, 'Action'), inputs.action),
      h('div', { class: 'field' }, h('label', { for: 'audit-outcome' }, 'Outcome'), inputs.outcome),
      h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Search'), h('button', { type: 'button', onclick: () => void exportCsv() }, 'Export CSV')),
    ),
    results,
  );
  await search();
}

function auditTable(page, paging, search) {
  const rows = page.events.map((event) =>
    h(
      'tr',
      {},
      h('td', {}, formatTime(event.occurredAt)),
      h('td', {}, event.action),
      h('td', {}, h('span', { class: `badge outcome-${event.outcome}` }, event.outcome)),
      h('td', {}, `${event.actor} (${event.actorType})`),
      h('td', {}, event.sourceAddress ?? ''),
      h('td', {}, event.studyInstanceUid ?? ''),
      h('td', {}, event.accessionNumber ?? ''),
      h('td', {}, event.details ? JSON.stringify(event.details) : ''),
    ),
  );
  return h(
    'div',
    {},
    h('p', { class: 'hint', id: 'audit-total' }, `${page.total} audit events match.`),
    table('Audit events, newest first', ['Time', 'Action', 'Outcome', 'Actor', 'Source', 'StudyInstanceUID', 'Accession', 'Details'], rows, 'No audit event matches.'),
    h(
      'div',
      { class: 'pager' },
      h('button', { type: 'button', disabled: paging.offset === 0, onclick: () => { paging.offset = Math.max(0, paging.offset - paging.limit); void search(); } }, 'Previous page'),
      h('button', { type: 'button', disabled: paging.offset + paging.limit >= page.total, onclick: () => { paging.offset += paging.limit; void search(); } }, 'Next page'),
    ),
  );
}
