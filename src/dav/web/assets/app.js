// griddock browser page: listing, download, create folder, rename, delete, and chunked
// resumable uploads with ADLER32 checks. Every name is inserted with textContent only.
'use strict';

const API = '/.griddock-web/';
const state = { csrf: null, user: null, session: false, chunk: 16 << 20, gsiftp: null, may: {} };
const $ = (id) => document.getElementById(id);

// ---------- helpers ----------
function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const kid of kids) e.append(kid);
  return e;
}
function say(text) { $('message').textContent = text || ''; }
function segsOf(pathname) {
  return pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
}
function enc(segs) { return '/' + segs.map(encodeURIComponent).join('/'); }
function fmtSize(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + u[i];
}
function fmtTime(s) {
  if (!isFinite(s) || s < 0) return '–';
  if (s < 60) return Math.round(s) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
}
async function api(method, path, opts) {
  opts = opts || {};
  const headers = Object.assign({}, opts.headers || {});
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  let r;
  try {
    r = await fetch(API + path, { method, headers, body: opts.body, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    return { ok: false, status: 0, json: { error: 'network error' } };
  }
  let json = {};
  try { json = await r.json(); } catch (e) { json = {}; }
  return { ok: r.ok, status: r.status, json };
}

// ---------- adler32 (RFC 1950 §9) ----------
class Adler32 {
  constructor() { this.a = 1; this.b = 0; }
  update(buf) {
    const d = new Uint8Array(buf);
    let a = this.a, b = this.b, i = 0;
    const n = d.length;
    while (i < n) {
      const end = Math.min(i + 5552, n);
      for (; i < end; i++) { a += d[i]; b += a; }
      a %= 65521; b %= 65521;
    }
    this.a = a; this.b = b;
  }
  hex() { return (((this.b << 16) | this.a) >>> 0).toString(16).padStart(8, '0'); }
}

// ---------- session ----------
async function loadSession() {
  const r = await api('GET', 'session');
  const s = r.json;
  state.csrf = s.csrf || null;
  state.user = s.user || null;
  state.session = !!s.session;
  state.gsiftp = s.gsiftp_port || null;
  if (s.chunk_size) state.chunk = s.chunk_size;
  const who = $('who');
  if (state.session) {
    who.textContent = 'Logged in as ' + state.user;
  } else if (s.anonymous) {
    who.textContent = 'Browsing anonymously (read only)';
  } else {
    who.textContent = 'Not logged in';
  }
  $('login').classList.toggle('hidden', state.session);
  $('logout').classList.toggle('hidden', !state.session);
  $('login-cert').classList.toggle('hidden', state.session || !s.certificate);
  if (s.certificate) $('login-cert').title = s.certificate;
}

async function login(body) {
  const r = await api('POST', 'login', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) { say('Login failed: ' + (r.json.error || r.status)); return; }
  $('login-password').value = '';
  say('');
  await refresh();
}

// ---------- listing ----------
const here = segsOf(location.pathname);

function crumbs() {
  const nav = $('crumbs');
  nav.replaceChildren();
  nav.append(el('a', { href: '/', text: location.host }));
  here.forEach((seg, i) => {
    nav.append(' / ');
    nav.append(el('a', { href: enc(here.slice(0, i + 1)) + '/', text: seg }));
  });
}

function urlsFor(segs) {
  const p = enc(segs);
  const lines = ['davs://' + location.host + p];
  if (state.gsiftp) lines.push('gsiftp://' + location.hostname + ':' + state.gsiftp + p);
  return lines;
}

function row(e) {
  const segs = here.concat([e.name]);
  const tr = el('tr', { dataset: { name: e.name } });
  const name = el('td', { class: 'name' });
  if (e.kind === 'dir') {
    name.append(el('a', { href: enc(segs) + '/', class: 'entry dir', text: e.name + '/' }));
  } else {
    name.append(el('a', { href: API + 'dl' + enc(segs), class: 'entry file', download: '', text: e.name }));
    const urls = el('div', { class: 'urls' });
    for (const u of urlsFor(segs)) urls.append(el('div', { text: u }));
    name.append(urls);
  }
  tr.append(name);
  tr.append(el('td', { class: 'num size', text: e.kind === 'dir' ? '' : fmtSize(e.size) }));
  tr.append(el('td', { class: 'mtime', text: new Date(e.mtime * 1000).toLocaleString() }));
  const sum = el('td', { class: 'sum' });
  if (e.kind === 'file') {
    const b = el('button', { type: 'button', class: 'adler', text: 'adler32' });
    b.addEventListener('click', async () => {
      b.disabled = true;
      const r = await api('GET', 'sum' + enc(segs));
      sum.replaceChildren(el('span', { class: 'adler-value', text: r.ok ? r.json.adler32 : ('error: ' + (r.json.error || r.status)) }));
    });
    sum.append(b);
  }
  tr.append(sum);
  const acts = el('td', { class: 'actions' });
  if (state.may.rename) {
    const b = el('button', { type: 'button', class: 'rename', text: 'Rename' });
    b.addEventListener('click', () => renameForm(name, e.name));
    acts.append(b);
  }
  if (state.may.delete) {
    const b = el('button', { type: 'button', class: 'delete', text: 'Delete' });
    b.addEventListener('click', async () => {
      if (b.dataset.armed !== '1') {
        b.dataset.armed = '1';
        b.textContent = 'Confirm delete';
        setTimeout(() => { b.dataset.armed = ''; b.textContent = 'Delete'; }, 8000);
        return;
      }
      const r = await api('POST', 'delete' + enc(segs));
      if (!r.ok) say('Delete failed: ' + (r.json.error || r.status));
      await list();
    });
    acts.append(b);
  }
  tr.append(acts);
  return tr;
}

function renameForm(cell, old) {
  const input = el('input', { class: 'rename-input', value: old });
  const save = el('button', { type: 'submit', class: 'rename-save', text: 'Save' });
  const cancel = el('button', { type: 'button', text: 'Cancel' });
  const form = el('form', { class: 'rename-form' }, input, save, cancel);
  cancel.addEventListener('click', () => list());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const to = input.value;
    if (!to || to.includes('/')) { say('A name without "/", please'); return; }
    const r = await api('POST', 'rename' + enc(here.concat([old])), { headers: { 'X-Destination': enc(here.concat([to])) } });
    if (!r.ok) say('Rename failed: ' + (r.json.error || r.status));
    await list();
  });
  cell.replaceChildren(form);
  input.focus();
}

async function list() {
  const r = await api('GET', 'list' + enc(here) + (here.length ? '/' : ''));
  const body = $('entries');
  body.replaceChildren();
  if (!r.ok) {
    state.may = {};
    $('tools').classList.add('hidden');
    say(r.status === 401 ? 'Log in to see this folder.' : ('Cannot list this folder: ' + (r.json.error || r.status)));
    return;
  }
  state.may = r.json.may || {};
  $('tools').classList.toggle('hidden', !(state.may.upload || state.may.mkdir));
  for (const e of r.json.entries) body.append(row(e));
  if (r.json.entries.length === 0) body.append(el('tr', {}, el('td', { class: 'empty', text: '(empty folder)' })));
}

async function refresh() {
  await loadSession();
  await list();
  showResumable();
}

// ---------- uploads ----------
const queue = [];
let running = false;
const totals = { bytes: 0, done: 0, started: 0, resumed: 0 };

function fingerprint(target, file) { return 'griddock-upload:' + target + ':' + file.size + ':' + file.lastModified; }

function showResumable() {
  const ul = $('resumable-list');
  ul.replaceChildren();
  let n = 0;
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (!k.startsWith('griddock-upload:')) continue;
    let v = {};
    try { v = JSON.parse(localStorage.getItem(k)); } catch (e) { continue; }
    ul.append(el('li', { class: 'resumable-item', text: v.target + ' (' + fmtSize(v.size) + ')' }));
    n++;
  }
  $('resumable').classList.toggle('hidden', n === 0);
  if (n) $('uploads').classList.remove('hidden');
}

function enqueue(items) {
  $('uploads').classList.remove('hidden');
  for (const it of items) {
    const li = el('li', { class: 'upload', dataset: { name: it.rel.join('/') } });
    const label = el('div', { class: 'upload-name', text: it.rel.join('/') + ' (' + fmtSize(it.file.size) + ')' });
    const bar = el('progress', { class: 'bar', max: '100', value: '0' });
    const status = el('div', { class: 'upload-status', text: 'waiting' });
    li.append(label, bar, status);
    $('upload-list').append(li);
    it.ui = { li, bar, status };
    it.sent = 0;
    queue.push(it);
    totals.bytes += it.file.size;
  }
  if (!running) runQueue();
}

function overall() {
  const sent = totals.done + (queue.length ? queue[0].sent : 0);
  const pct = totals.bytes ? Math.floor((sent * 100) / totals.bytes) : 100;
  $('overall-bar').value = pct;
  const secs = (performance.now() - totals.started) / 1000;
  // Bytes the server already had (resumed uploads) do not count towards the rate.
  const rate = secs > 0 ? (sent - totals.resumed) / secs : 0;
  $('overall-text').textContent = pct + ' % of ' + fmtSize(totals.bytes) + ' · ' + fmtSize(rate) + '/s · ' + fmtTime((totals.bytes - sent) / rate) + ' left';
}

async function runQueue() {
  running = true;
  totals.started = performance.now();
  while (queue.length) {
    const it = queue[0];
    try {
      await uploadOne(it);
    } catch (e) {
      it.ui.status.textContent = 'failed: ' + e.message;
      it.ui.li.classList.add('failed');
    }
    totals.done += it.file.size;
    it.sent = 0;
    queue.shift();
    overall();
  }
  running = false;
  showResumable();
  await list();
}

async function ensureFolders(segs) {
  for (let i = here.length + 1; i < segs.length; i++) {
    const r = await api('POST', 'mkdir' + enc(segs.slice(0, i)));
    if (!r.ok && r.status !== 405) throw new Error('cannot create folder ' + segs.slice(0, i).join('/') + ': ' + (r.json.error || r.status));
  }
}

function putPart(id, buf, first, size, onprogress) {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest();
    x.open('PUT', API + 'up/' + id);
    x.setRequestHeader('X-CSRF-Token', state.csrf || '');
    if (size > 0) x.setRequestHeader('Content-Range', 'bytes ' + first + '-' + (first + buf.byteLength - 1) + '/' + size);
    x.upload.onprogress = (e) => onprogress(e.loaded);
    x.onload = () => {
      let j = {};
      try { j = JSON.parse(x.responseText); } catch (e) { j = {}; }
      resolve({ status: x.status, json: j });
    };
    x.onerror = () => resolve({ status: 0, json: { error: 'network error' } });
    x.send(size > 0 ? buf : null);
  });
}

async function hashPrefix(file, upto, chunk) {
  const h = new Adler32();
  for (let off = 0; off < upto; off += chunk) {
    h.update(await file.slice(off, Math.min(off + chunk, upto)).arrayBuffer());
  }
  return h;
}

async function uploadOne(it) {
  const { file, ui } = it;
  const segs = here.concat(it.rel);
  const target = enc(segs);
  await ensureFolders(segs);
  const fp = fingerprint(target, file);
  let id = null, offset = 0, resumedAt = null;
  try { id = JSON.parse(localStorage.getItem(fp) || 'null'); id = id && id.id; } catch (e) { id = null; }
  if (id) {
    const r = await api('GET', 'up/' + id);
    if (r.ok) { offset = r.json.offset; resumedAt = offset; totals.resumed += offset; } else { id = null; }
  }
  if (!id) {
    const r = await api('POST', 'upload' + target, { headers: { 'X-Upload-Length': String(file.size) } });
    if (!r.ok) throw new Error(r.json.error || String(r.status));
    id = r.json.id;
    localStorage.setItem(fp, JSON.stringify({ id, target: segs.join('/'), size: file.size }));
  }
  const chunk = state.chunk;
  let h = await hashPrefix(file, offset, chunk);
  const t0 = performance.now(), base = offset;
  const prefix = resumedAt !== null ? 'resumed at ' + resumedAt + ' bytes · ' : '';
  ui.status.textContent = prefix + 'uploading';
  let failures = 0, result = null;
  const show = (sent) => {
    it.sent = sent;
    const pct = file.size ? Math.floor((sent * 100) / file.size) : 100;
    ui.bar.value = pct;
    const secs = (performance.now() - t0) / 1000;
    const rate = secs > 0 ? (sent - base) / secs : 0;
    ui.status.textContent = prefix + pct + ' % · ' + fmtSize(rate) + '/s · ' + fmtTime((file.size - sent) / rate) + ' left';
    overall();
  };
  while (result === null) {
    const end = Math.min(offset + chunk, file.size);
    const buf = file.size ? await file.slice(offset, end).arrayBuffer() : new ArrayBuffer(0);
    const r = await putPart(id, buf, offset, file.size, (n) => show(offset + n));
    if (r.status === 200 || r.status === 201) {
      h.update(buf);
      offset = r.json.offset;
      failures = 0;
      show(offset);
      if (r.json.done) result = r.json;
      continue;
    }
    if (r.status === 409 && typeof r.json.offset === 'number') {
      offset = r.json.offset;
      h = await hashPrefix(file, offset, chunk);
      continue;
    }
    if ((r.status === 0 || r.status === 409) && failures < 8) {
      // A dropped connection: ask the server how much it holds, then go on from there.
      failures++;
      await new Promise((ok) => setTimeout(ok, 500 * failures));
      const s = await api('GET', 'up/' + id);
      if (s.ok) { offset = s.json.offset; h = await hashPrefix(file, offset, chunk); }
      continue;
    }
    throw new Error(r.json.error || ('HTTP ' + r.status));
  }
  localStorage.removeItem(fp);
  const local = h.hex();
  const match = local === result.adler32;
  ui.bar.value = 100;
  ui.status.replaceChildren(
    document.createTextNode(prefix + '100 % · done · adler32 local '),
    el('span', { class: 'sum-local', text: local }),
    document.createTextNode(', server '),
    el('span', { class: 'sum-server', text: result.adler32 }),
    document.createTextNode(' '),
    el('span', { class: match ? 'sum-ok' : 'sum-bad', text: match ? '✓ match' : '✗ MISMATCH' }),
  );
  ui.li.classList.add(match ? 'done' : 'failed');
}

function fromPicker(files) {
  return Array.from(files).map((f) => ({ file: f, rel: (f.webkitRelativePath || f.name).split('/').filter((s) => s) }));
}

async function fromEntries(entries) {
  const out = [];
  async function walk(entry, path) {
    if (entry.isFile) {
      const f = await new Promise((ok, bad) => entry.file(ok, bad));
      out.push({ file: f, rel: path.concat([entry.name]) });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((ok, bad) => reader.readEntries(ok, bad));
        if (!batch.length) break;
        for (const e of batch) await walk(e, path.concat([entry.name]));
      }
    }
  }
  for (const e of entries) await walk(e, []);
  return out;
}

// ---------- wiring ----------
function wire() {
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    login({ user: $('login-user').value, password: $('login-password').value });
  });
  $('login-cert').addEventListener('click', () => login({ certificate: true }));
  $('logout').addEventListener('click', async () => {
    await api('POST', 'logout');
    await refresh();
  });
  $('mkdir-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = $('mkdir-name').value;
    if (!name || name.includes('/')) { say('A folder name without "/", please'); return; }
    const r = await api('POST', 'mkdir' + enc(here.concat([name])));
    if (!r.ok) say('Create folder failed: ' + (r.json.error || r.status)); else { say(''); $('mkdir-name').value = ''; }
    await list();
  });
  for (const id of ['pick-files', 'pick-folder']) {
    $(id).addEventListener('change', (ev) => {
      enqueue(fromPicker(ev.target.files));
      ev.target.value = '';
    });
  }
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const entries = Array.from(ev.dataTransfer.items || []).map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter((e) => e);
    enqueue(entries.length ? await fromEntries(entries) : fromPicker(ev.dataTransfer.files));
  });
}

crumbs();
wire();
refresh();
