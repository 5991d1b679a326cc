"""The review page: one server-rendered HTML document with a little inline JavaScript, no build step.

It holds no pair data itself: the script asks /review/queue (role `review`) with the reviewer's token
and posts each rating to /review/ratings. Keyboard first: 1 / 2 / t / s rate or skip, l / r / n go
to the optional 1-5 ratings and the note, Esc goes back. Two columns that fit a laptop screen.
"""

from __future__ import annotations

import json
from html import escape

from analytics.calibration import JudgeCalibration
from analytics.reports.html import calibration_table
from analytics.review_queue import Filters

__all__ = ["render_review_page"]

_CSS = """
*{box-sizing:border-box} body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222}
header{padding:8px 16px;background:#f4f6f8;border-bottom:1px solid #ddd;display:flex;gap:16px;flex-wrap:wrap;
align-items:center} h1{font-size:18px;margin:0} main{padding:8px 16px;max-width:1400px;margin:auto}
.keys{font-size:13px;color:#444} kbd{border:1px solid #bbb;border-radius:3px;padding:0 4px;background:#fff}
#request{white-space:pre-wrap;background:#fafafa;border:1px solid #e3e3e3;padding:8px;max-height:22vh;overflow:auto;
font-size:14px} .answers{display:grid;grid-template-columns:1fr 1fr;gap:12px;margin-top:8px}
.answer{border:1px solid #ccc;border-radius:4px;padding:8px;white-space:pre-wrap;max-height:46vh;overflow:auto;
font-size:14px} mark{background:#ffe58a} h2{font-size:15px;margin:6px 0} .badge{display:inline-block;padding:2px 8px;
border-radius:10px;background:#e8eefc;font-size:12px} .badge.random{background:#e6f4ea}
.extra{display:flex;gap:16px;align-items:center;margin-top:6px;font-size:13px} input[type=number]{width:4em}
#note{width:40em;max-width:100%} #status{color:#b03a2e;font-size:13px} table{border-collapse:collapse;font-size:12px}
th,td{padding:3px 6px;border-bottom:1px solid #eee;text-align:left} th{background:#f6f6f6}
:focus{outline:3px solid #2f6fd6} #auth{padding:12px;border:1px solid #ddd;margin:8px 0}
"""

_SCRIPT = """
const cfg = JSON.parse(document.getElementById('cfg').textContent);
const $ = (id) => document.getElementById(id);
let queue = [], current = null, session = 0, skipped = new Set(JSON.parse(sessionStorage.getItem('skipped') || '[]'));

function headers() {
  const h = {'Content-Type': 'application/json'};
  const token = localStorage.getItem('shadow-review-token');
  const name = localStorage.getItem('shadow-review-name');
  if (token) h['Authorization'] = 'Bearer ' + token;
  if (name) h['X-Shadow-Reviewer'] = name;
  return h;
}
function say(text) { $('status').textContent = text || ''; }
function params() {
  const p = new URLSearchParams();
  for (const f of ['challenger', 'route', 'tenant']) if ($(f).value) p.set(f, $(f).value);
  return p;
}
async function call(method, path, body) {
  const r = await fetch(path, {method, headers: headers(), body: body ? JSON.stringify(body) : undefined});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.message || r.statusText) + ' (HTTP ' + r.status + ')');
  return data;
}
function fill(select, values) {
  const keep = select.value || select.dataset.initial || '';
  select.innerHTML = '<option value="">all</option>' +
    values.map(v => `<option${v === keep ? ' selected' : ''}>${v.replace(/[<&"]/g, c => '&#' + c.charCodeAt(0) + ';')}</option>`).join('');
  select.value = keep;
}
async function loadQueue() {
  try {
    const p = params(); p.set('limit', '20');
    const data = await call('GET', '/review/queue?' + p.toString());
    $('who').textContent = data.reviewer;
    for (const f of ['challenger', 'route', 'tenant']) fill($(f), data.filters[f]);
    queue = data.items.filter(i => !skipped.has(i.event_id + '|' + i.challenger));
    $('left-count').textContent = data.remaining;
    $('total-count').textContent = data.rated_by_you;
    say('');
    show();
  } catch (e) { say('cannot load the queue: ' + e.message); }
}
function show() {
  current = queue.shift() || null;
  $('pair').hidden = !current; $('empty').hidden = !!current;
  if (!current) return;
  $('pair').dataset.event = current.event_id; $('pair').dataset.challenger = current.challenger;
  $('pair').dataset.reason = current.reason;
  $('reason').textContent = current.reason === 'random' ? 'random sample' : current.reason.replaceAll('_', ' ');
  $('reason').className = 'badge' + (current.reason === 'random' ? ' random' : '');
  $('reason').title = current.reason_text;
  $('where').textContent = `${current.challenger} · ${current.route || '—'} · ${current.tenant || 'no tenant'}`;
  $('request').textContent = current.request;
  $('left').innerHTML = current.left.html; $('right').innerHTML = current.right.html;
  $('rating-left').value = ''; $('rating-right').value = ''; $('note').value = '';
  $('left').scrollTop = 0; $('right').scrollTop = 0;
}
async function rate(choice) {
  if (!current) return;
  const item = current;
  const score = (id) => { const v = parseInt($(id).value, 10); return v >= 1 && v <= 5 ? v : null; };
  try {
    await call('POST', '/review/ratings', {event_id: item.event_id, challenger: item.challenger, choice,
      rating_left: score('rating-left'), rating_right: score('rating-right'), note: $('note').value,
      queue_reason: item.reason});
    session += 1; $('session-count').textContent = session;
    $('total-count').textContent = parseInt($('total-count').textContent || '0', 10) + 1;
    $('left-count').textContent = Math.max(0, parseInt($('left-count').textContent || '1', 10) - 1);
    if (queue.length) show(); else await loadQueue();
  } catch (e) { say('rating not sent: ' + e.message); }
}
function skip() {
  if (!current) return;
  skipped.add(current.event_id + '|' + current.challenger);
  sessionStorage.setItem('skipped', JSON.stringify([...skipped]));
  if (queue.length) show(); else loadQueue();
}
async function refreshCalibration() {
  try {
    const r = await fetch('/review/calibration.html', {headers: headers()});
    if (r.ok) $('calibration').innerHTML = await r.text();
  } catch (e) { /* the next refresh tries again */ }
}
document.addEventListener('keydown', (ev) => {
  const t = ev.target.tagName;
  if (t === 'INPUT' || t === 'TEXTAREA' || t === 'SELECT') {
    if (ev.key === 'Escape') ev.target.blur();
    if (ev.key === 'Enter' && ev.target.id === 'token-input') { ev.preventDefault(); saveAuth(); }
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const actions = {'1': () => rate('left'), '2': () => rate('right'), 't': () => rate('tie'), 's': skip,
    'l': () => $('rating-left').focus(), 'r': () => $('rating-right').focus(), 'n': () => $('note').focus()};
  const action = actions[ev.key];
  if (action) { ev.preventDefault(); action(); }
});
function saveAuth() {
  const value = $('token-input').value.trim();
  if (!value) return;
  localStorage.setItem(cfg.token_required ? 'shadow-review-token' : 'shadow-review-name', value);
  $('auth').hidden = true; $('token-input').blur(); start();
}
function start() { loadQueue(); refreshCalibration(); }
for (const f of ['challenger', 'route', 'tenant']) $(f).addEventListener('change', () => loadQueue());
$('token-save').addEventListener('click', saveAuth);
setInterval(refreshCalibration, 3000);
const known = localStorage.getItem(cfg.token_required ? 'shadow-review-token' : 'shadow-review-name');
if (known) { $('auth').hidden = true; start(); } else { $('auth').hidden = false; $('token-input').focus(); }
"""


def render_review_page(calibrations: list[JudgeCalibration] | None, filters: Filters, token_required: bool,
                       random_share: float) -> str:
    """Pure: the page. `filters` preselect the queue; the calibration table is rendered here (None: fetched
    by the script with the reviewer's token) and refreshed every few seconds."""
    config = json.dumps({"token_required": token_required}).replace("</", "<\\/")
    ask = ("Your review token (SHADOW_API_TOKENS, role review), then Enter:" if token_required
           else "Your name (recorded with each rating), then Enter:")
    selects = "".join(
        f'<label>{name} <select id="{name}" data-initial="{escape(getattr(filters, name))}">'
        f'<option value="">all</option></select></label>' for name in ("challenger", "route", "tenant"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shadow-Optic review</title><style>{_CSS}</style></head><body>
<header><h1>Review pairs</h1><span>reviewer: <b id="who">—</b></span>
<span>rated this session <b id="session-count">0</b> · by you in all <b id="total-count">0</b> ·
left in this queue <b id="left-count">—</b></span>{selects}</header>
<main>
<div id="auth" hidden><label for="token-input">{escape(ask)}</label>
<input id="token-input" type="{'password' if token_required else 'text'}" autocomplete="off">
<button id="token-save">use</button></div>
<p class="keys">Which answer is better for the user? <kbd>1</kbd> answer 1 · <kbd>2</kbd> answer 2 · <kbd>t</kbd> tie
· <kbd>s</kbd> skip · optional: <kbd>l</kbd> / <kbd>r</kbd> rate answer 1 / 2 from 1 to 5, <kbd>n</kbd> a note,
<kbd>Esc</kbd> back. The answers are shown blind, in an order of their own for you; marked words differ.
{random_share:.0%} of the queue is drawn at random (marked) so the judge's calibration stays unbiased.</p>
<p id="status" role="status"></p>
<section id="pair" hidden>
<p><span id="reason" class="badge"></span> <span id="where" class="keys"></span></p>
<h2>Request</h2><div id="request"></div>
<div class="answers"><div><h2>Answer 1</h2><div id="left" class="answer"></div></div>
<div><h2>Answer 2</h2><div id="right" class="answer"></div></div></div>
<div class="extra"><label>answer 1 (1–5) <input id="rating-left" type="number" min="1" max="5"></label>
<label>answer 2 (1–5) <input id="rating-right" type="number" min="1" max="5"></label>
<label>note <input id="note" type="text" maxlength="2000"></label></div>
</section>
<p id="empty" hidden>Nothing left to review with these filters.</p>
<h2>Judges against people</h2>
<div id="calibration">{'<p class="meta">loading…</p>' if calibrations is None else calibration_table(calibrations)}</div>
</main>
<script type="application/json" id="cfg">{config}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
