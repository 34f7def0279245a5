// The report queue: open reports, oldest first, from GET /reports and live `report.created`.
// Each shows the reported line, the reason, who reported it and their note, with tools to
// delete the line, ban its author and resolve the report.

import { canActOn, remember, standingOf, timeElement } from './console-common.js';
import { byData, el } from './dom.js';
import { setText, t, tn } from './i18n.js';

export const REPORT_REASONS = ['spam', 'harassment', 'hate', 'scam', 'sexual', 'other'];

export class ReportQueue {
  constructor({ desk, onAction, onPerson }) {
    this.desk = desk;
    this.onAction = onAction;
    this.onPerson = onPerson;
    this.reports = new Map(); // id -> report, oldest first
    this.deleted = new Set(); // message ids known to be gone
    this.list = document.getElementById('report-list');
  }

  replace(reports) {
    this.reports.clear();
    for (const r of reports || []) this.reports.set(r.id, r);
    this.render();
  }

  add(report) {
    if (!report || !report.id || this.reports.has(report.id)) return false;
    this.reports.set(report.id, report);
    this.render();
    const reason = t(`report.reason.${report.reason}`);
    document.getElementById('reports-announce').textContent = t('console.reports.new', { reason });
    return true;
  }

  resolved(id) {
    if (this.reports.delete(id)) this.render();
  }

  lineDeleted(messageId) {
    this.deleted.add(String(messageId));
    this.render();
  }

  _card(r) {
    const line = r.message || {};
    const author = line.user || {};
    remember(this.desk, author);
    remember(this.desk, r.reporter);
    const li = el('li', { class: 'report-card' });
    li.dataset.id = r.id;
    li.dataset.messageId = String(line.id || '');

    const head = el('div', { class: 'report-head' });
    const reason = el('span', { class: `reason-badge ${r.reason}` });
    setText(reason, `report.reason.${r.reason}`);
    const by = el('span', { class: 'report-by' });
    setText(by, 'console.reports.by', { name: (r.reporter && r.reporter.name) || '?' });
    head.append(reason, by);
    if (r.at != null) head.append(timeElement(r.at));

    const quote = el('blockquote', { class: 'report-line' });
    const name = el('button', { class: 'mod-author', text: author.name || '?' });
    name.type = 'button';
    name.setAttribute('aria-haspopup', 'dialog');
    name.addEventListener('click', () => this.onPerson(author));
    const text = el('span', { class: 'report-text', text: String(line.text ?? '') });
    text.id = `report-text-${r.id}`;
    quote.append(name, ' ', text);
    li.append(head, quote);

    if (r.note) {
      const note = el('p', { class: 'report-note' });
      setText(note, 'console.reports.note', { note: r.note });
      li.append(note);
    }

    const gone = this.deleted.has(String(line.id));
    const { banned } = standingOf(this.desk, author.id);
    const flags = [];
    if (gone) flags.push('console.reports.line_deleted');
    if (banned) flags.push('console.reports.author_banned');
    for (const key of flags) {
      const flag = el('p', { class: 'report-flag' });
      setText(flag, key);
      li.append(flag);
    }

    const actions = el('div', { class: 'report-actions' });
    actions.setAttribute('role', 'group');
    actions.setAttribute('aria-label', t('console.reports.actions', { name: author.name || '?' }));
    actions.setAttribute('aria-describedby', text.id);
    const run = (type, fields, button) => this.onAction(type, fields, { button, report: r });
    if (!gone && line.id) {
      const del = el('button', { class: 'small-button danger' });
      del.type = 'button';
      setText(del, 'console.action.delete_line');
      del.addEventListener('click', () => run('mod.delete', { message_id: line.id }, del));
      actions.append(del);
    }
    if (!banned && canActOn(this.desk, author.id)) {
      const ban = el('button', { class: 'small-button danger' });
      ban.type = 'button';
      setText(ban, 'console.action.ban_author');
      ban.addEventListener('click', () => run('mod.ban', { user_id: author.id }, ban));
      actions.append(ban);
    }
    const resolve = el('button', { class: 'small-button primary' });
    resolve.type = 'button';
    resolve.dataset.act = 'resolve';
    setText(resolve, 'console.action.resolve');
    resolve.addEventListener('click', () => run('mod.resolve', { report_id: r.id }, resolve));
    actions.append(resolve);
    li.append(actions);
    return li;
  }

  render() {
    // Keep the keyboard where it was when the list is rebuilt under it.
    const active = document.activeElement;
    const focusCard = active && this.list.contains(active) ? active.closest('.report-card') : null;
    const focusId = focusCard && focusCard.dataset.id;
    const focusText = active && active.textContent;

    const reports = [...this.reports.values()];
    this.list.replaceChildren(...reports.map((r) => this._card(r)));
    document.getElementById('reports-empty').hidden = reports.length > 0;
    for (const id of ['report-count', 'jump-report-count']) {
      const badge = document.getElementById(id);
      badge.hidden = reports.length === 0;
      badge.textContent = tn('console.reports.count', reports.length);
    }
    if (focusId) {
      const card = byData(this.list, 'id', focusId);
      const same = card && [...card.querySelectorAll('button')].find((b) => b.textContent === focusText);
      const target = same || (card && card.querySelector('[data-act="resolve"]')) || this.list.querySelector('button');
      if (target) target.focus();
      else document.getElementById('reports-section').focus();
    }
  }
}
