// The audit log: who did what to whom, and when, newest first. Loaded from GET /audit and
// loaded again after each action and when moderation events arrive; "Show older entries"
// pages back with `before`.

import { api, API_BASE } from './api.js';
import { nameOf, remember, timeElement } from './console-common.js';
import { el } from './dom.js';
import { formatDuration } from './durations.js';
import { setText, t } from './i18n.js';

const PAGE = 50;

// Audit entry ids are stream ids, "<ms>-<n>": newest first means the larger pair first.
function newerFirst(a, b) {
  const [am, an] = a.id.split('-').map(Number);
  const [bm, bn] = b.id.split('-').map(Number);
  return bm - am || bn - an;
}

export class AuditLog {
  constructor({ desk, describeError }) {
    this.desk = desk;
    this.describeError = describeError;
    this.entries = new Map();
    this.hasOlder = false;
    this.list = document.getElementById('audit-list');
    this.loading = null;
  }

  _url(before) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (before) params.set('before', before);
    return `${API_BASE}/rooms/${encodeURIComponent(this.desk.roomId)}/audit?${params}`;
  }

  // The newest page, merged with what is on screen (older pages stay).
  async load() {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        const { entries } = await api(this._url(null));
        if (this.entries.size === 0) this.hasOlder = entries.length === PAGE;
        for (const e of entries) this.entries.set(e.id, e);
        document.getElementById('audit-error').textContent = '';
        this.render();
        return entries;
      } catch (err) {
        document.getElementById('audit-error').textContent = this.describeError(err);
        throw err;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  async more() {
    const oldest = [...this.entries.values()].sort(newerFirst).pop();
    if (!oldest) return;
    try {
      const { entries } = await api(this._url(oldest.id));
      for (const e of entries) this.entries.set(e.id, e);
      this.hasOlder = entries.length === PAGE;
      this.render();
    } catch (err) {
      document.getElementById('audit-error').textContent = this.describeError(err);
    }
  }

  reset() {
    this.entries.clear();
    this.hasOlder = false;
    this.render();
  }

  _sentence(e) {
    const actor = (e.actor && e.actor.name) || '?';
    const target = e.target || {};
    const line = e.message || null;
    const person = line && line.user ? line.user.name : nameOf(this.desk, target.user_id);
    const args = { actor, target: person || '?' };
    switch (e.action) {
      case 'mod.delete': return ['console.audit.delete', args];
      case 'mod.pin_chat': return ['console.audit.pin_chat', args];
      case 'mod.unpin_chat': return ['console.audit.unpin_chat', args];
      case 'mod.timeout':
        return ['console.audit.timeout', { ...args, duration: formatDuration(e.seconds || 0) }];
      case 'mod.ban': return ['console.audit.ban', args];
      case 'mod.unban': return ['console.audit.unban', args];
      case 'mod.untimeout': return ['console.audit.untimeout', args];
      case 'mod.slow':
        return e.seconds ? ['console.audit.slow_on', { actor, duration: formatDuration(e.seconds) }]
          : ['console.audit.slow_off', { actor }];
      case 'mod.words': return ['console.audit.words', { actor, count: e.count ?? 0 }];
      case 'mod.resolve': {
        const reason = e.report && e.report.reason ? t(`report.reason.${e.report.reason}`) : '';
        return ['console.audit.resolve', { actor, reason }];
      }
      case 'mod.appoint': return ['console.audit.appoint', args];
      case 'mod.remove': return ['console.audit.remove', args];
      case 'order.refund_refused': return ['console.audit.refund_refused', { actor }];
      case 'auction.void': {
        const lot = this.desk.lotTitle ? this.desk.lotTitle(target.auction_id) : '';
        return lot ? ['console.lot.audit_void_lot', { ...args, lot }] : ['console.lot.audit_void', args];
      }
      default: return ['console.audit.other', { actor, action: String(e.action || '') }];
    }
  }

  _entry(e) {
    remember(this.desk, e.actor);
    if (e.message) remember(this.desk, e.message.user);
    const li = el('li', { class: 'audit-entry' });
    li.dataset.id = e.id;
    li.dataset.action = String(e.action || '');
    if (e.at != null) li.append(timeElement(e.at));
    const what = el('p', { class: 'audit-what' });
    const [key, args] = this._sentence(e);
    setText(what, key, args);
    li.append(what);
    if (e.message && e.message.text != null) {
      li.append(el('p', { class: 'audit-quote', text: String(e.message.text) }));
    }
    if (e.reason) {
      const reason = el('p', { class: 'audit-reason' });
      setText(reason, 'console.audit.reason', { reason: e.reason });
      li.append(reason);
    }
    return li;
  }

  render() {
    const entries = [...this.entries.values()].sort(newerFirst);
    this.list.replaceChildren(...entries.map((e) => this._entry(e)));
    document.getElementById('audit-empty').hidden = entries.length > 0;
    document.getElementById('audit-more').hidden = !this.hasOlder;
  }

  // Resolved reports, by whoever resolved them, leave the queue.
  resolvedReportIds() {
    return [...this.entries.values()]
      .filter((e) => e.action === 'mod.resolve' && e.target && e.target.report_id)
      .map((e) => e.target.report_id);
  }
}
