// SPDX-License-Identifier: LGPL-2.1-or-later
// PodScope web viewer: plain JavaScript, no dependencies. The bearer token
// comes in the URL fragment (#token=...), is removed from the address bar at
// once and kept in this closure only; every data request carries it.
'use strict';

(function () {
	const MAX_ROWS = 20000;   // records kept per table; older ones are dropped
	const MAX_SHOWN = 2000;   // rows drawn per table (the newest that match)

	const params = new URLSearchParams(location.hash.replace(/^#/, ''));
	const token = params.get('token');
	history.replaceState(null, '', location.pathname + location.search);

	const $ = (id) => document.getElementById(id);
	const tables = {
		http: { rows: [], body: $('http-table').tBodies[0], count: $('http-count') },
		tls: { rows: [], body: $('tls-table').tBodies[0], count: $('tls-count') },
		file: { rows: [], body: $('file-table').tBodies[0], count: $('file-count') },
	};
	let lastIndex = -1;
	let selected = null;
	let filterTerms = [];
	let drawPending = false;
	let skippedTotal = 0;
	let ws = null;
	let retryDelay = 500;
	let refused = false;

	function setState(state, text) {
		const el = $('state');
		el.className = 'state state-' + state;
		el.dataset.state = state;
		el.textContent = text;
	}

	function notice(text) {
		const el = $('notice');
		el.textContent = text;
		el.hidden = text === '';
	}

	// ---- formatting ----
	function pad(n, w) { return String(n).padStart(w, '0'); }
	function fmtTime(ns) {
		if (ns === undefined) return '';
		const d = new Date(Number(ns) / 1e6);
		return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' +
			pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
	}
	function fmtMs(ns) { return ns === undefined ? '' : (Number(ns) / 1e6).toFixed(3); }
	function fmtInt(v) { return v === undefined || v === null ? '' : Number(v).toLocaleString('en-US'); }
	function endpoint(name, addr, port) {
		let ep = addr === undefined ? '?' : (addr.includes(':') ? '[' + addr + ']' : addr);
		if (port !== undefined) ep += ':' + port;
		return name ? name + ' (' + ep + ')' : ep;
	}
	function tlsVersion(v) {
		const names = { 0x0301: 'TLS 1.0', 0x0302: 'TLS 1.1', 0x0303: 'TLS 1.2', 0x0304: 'TLS 1.3' };
		return v === undefined ? '' : (names[v] || '0x' + v.toString(16));
	}
	function uriPath(uri) { return uri === undefined ? '' : uri; }

	// Columns per table: [text, numeric?, filter key]
	function httpCells(r) {
		return [
			[fmtTime(r.ts_ns), false, 'time'],
			[endpoint(r.src_name, r.src_addr, r.src_port) + ' → ' +
				endpoint(r.dst_name, r.dst_addr, r.dst_port), false, 'flow'],
			[r.http_method || '', false, 'method'],
			[(r.http_host || '') + uriPath(r.http_uri), false, 'url'],
			[r.http_status === undefined ? '' : String(r.http_status), true, 'status'],
			[fmtMs(r.t_server), true, 'ttfb'],
			[fmtMs(r.t_total), true, 'total'],
			[fmtInt(r.http_request_body_len), true, 'req_bytes'],
			[fmtInt(r.http_response_body_len), true, 'resp_bytes'],
		];
	}
	function tlsCells(r) {
		return [
			[fmtTime(r.ts_ns), false, 'time'],
			[endpoint(r.src_name, r.src_addr, r.src_port) + ' → ' +
				endpoint(r.dst_name, r.dst_addr, r.dst_port), false, 'flow'],
			[r.tls_sni || '', false, 'sni'],
			[tlsVersion(r.tls_version), false, 'version'],
			[r.tls_alpn || '', false, 'alpn'],
			[fmtMs(r.t_tls_handshake), true, 'handshake'],
		];
	}
	function fileCells(r) {
		return [
			[fmtTime(r.ts_ns), false, 'time'],
			[(r.namespace || r.source_namespace || '') + '/' + (r.pod || r.source_pod || ''), false, 'pod'],
			[r.container_name || '', false, 'container'],
			[(r.comm || '') + (r.tgid !== undefined ? ' [' + r.tgid + ']' : ''), false, 'process'],
			[r.syscall || '', false, 'syscall'],
			[r.path || '', false, 'path'],
			[r.result === undefined ? '' : String(r.result), true, 'result'],
		];
	}

	// ---- filter: words match any column or field as substrings; field=value matches exactly ----
	function parseFilter(text) {
		return text.trim().split(/\s+/).filter((t) => t !== '').map((t) => {
			const m = /^([A-Za-z_][\w.]*)(!=|=|~)(.*)$/.exec(t);
			if (m) return { field: m[1].toLowerCase(), op: m[2], value: m[3].toLowerCase() };
			return { text: t.toLowerCase() };
		});
	}
	const aliases = { method: 'http_method', host: 'http_host', path: 'http_uri', uri: 'http_uri',
		status: 'http_status', sni: 'tls_sni', alpn: 'tls_alpn', container: 'container_name',
		pod: 'source_pod', namespace: 'source_namespace', interface: 'source_interface' };
	function fieldValues(row, field) {
		const out = [];
		for (const c of row.cells) if (c[2] === field) out.push(c[0]);
		const r = row.record;
		for (const k of [field, aliases[field]]) {
			if (k !== undefined && r[k] !== undefined) out.push(Array.isArray(r[k]) ? r[k].join(' ') : String(r[k]));
		}
		if (field === 'pod' && r.pod !== undefined) out.push(String(r.pod));
		if (field === 'namespace' && r.namespace !== undefined) out.push(String(r.namespace));
		return out.map((v) => v.toLowerCase());
	}
	function matches(row) {
		for (const t of filterTerms) {
			if (t.text !== undefined) {
				if (!row.search.includes(t.text)) return false;
				continue;
			}
			const values = fieldValues(row, t.field);
			let hit;
			if (t.op === '~') hit = values.some((v) => v.includes(t.value));
			else hit = values.some((v) => v === t.value);
			if (t.op === '!=' ? hit : !hit) return false;
		}
		return true;
	}

	// ---- tables ----
	function addRecord(r) {
		let table, cells;
		if (r.record_type === 'file_access') {
			table = tables.file;
			cells = fileCells(r);
		} else if (r.event === 'http_exchange') {
			table = tables.http;
			cells = httpCells(r);
		} else if (r.event === 'tls_handshake') {
			table = tables.tls;
			cells = tlsCells(r);
		} else {
			return;
		}
		const search = (cells.map((c) => c[0]).join(' ') + ' ' +
			Object.values(r).map((v) => String(v)).join(' ')).toLowerCase();
		table.rows.push({ record: r, cells: cells, search: search });
		if (table.rows.length > MAX_ROWS) table.rows.splice(0, table.rows.length - MAX_ROWS);
	}

	function drawTable(table) {
		const shown = [];
		for (let i = table.rows.length - 1; i >= 0 && shown.length < MAX_SHOWN; i--) {
			if (matches(table.rows[i])) shown.push(table.rows[i]);
		}
		shown.reverse();
		const frag = document.createDocumentFragment();
		for (const row of shown) {
			const tr = document.createElement('tr');
			tr.dataset.index = row.record.index;
			if (selected === row.record) tr.className = 'selected';
			for (const c of row.cells) {
				const td = document.createElement('td');
				td.textContent = c[0];
				if (c[1]) td.className = 'num';
				if (c[2] === 'status' && c[0] !== '') td.classList.add('st-' + c[0][0]);
				tr.appendChild(td);
			}
			tr.addEventListener('click', () => select(row.record));
			frag.appendChild(tr);
		}
		table.body.replaceChildren(frag);
		const total = table.rows.length;
		table.count.textContent = filterTerms.length > 0 ? shown.length + ' of ' + total : String(total);
		table.count.dataset.shown = shown.length;
	}

	function drawAll() {
		drawPending = false;
		for (const t of Object.values(tables)) drawTable(t);
	}
	function scheduleDraw() {
		if (drawPending) return;
		drawPending = true;
		requestAnimationFrame(drawAll);
	}

	function select(record) {
		selected = record;
		const body = $('detail-table').tBodies[0];
		const frag = document.createDocumentFragment();
		for (const key of Object.keys(record).sort()) {
			let v = record[key];
			if (Array.isArray(v)) v = v.join('\n');
			else if (/^t_/.test(key)) v = v + ' ns (' + fmtMs(v) + ' ms)';
			else if (key === 'ts_ns' || key === 'first_packet_ns') v = v + ' (' + new Date(Number(v) / 1e6).toISOString() + ')';
			const tr = document.createElement('tr');
			tr.dataset.field = key;
			const k = document.createElement('td');
			k.textContent = key;
			const val = document.createElement('td');
			val.textContent = String(v);
			val.style.whiteSpace = 'pre-wrap';
			tr.append(k, val);
			frag.appendChild(tr);
		}
		body.replaceChildren(frag);
		$('detail').hidden = false;
		document.body.classList.add('with-detail');
		scheduleDraw();
	}

	function drawSources(list) {
		const body = $('sources-table').tBodies[0];
		const frag = document.createDocumentFragment();
		for (const s of list) {
			const tr = document.createElement('tr');
			tr.dataset.sourceId = s.source_id || '';
			if (!s.connected) tr.className = 'gone';
			const since = s.connected_since ? new Date(s.connected_since).toLocaleTimeString() : '';
			const cells = [[s.pod || s.source_id || ''], [s.namespace || ''], [s.interface || ''],
				[s.role || ''], [fmtInt(s.packets), true], [fmtInt(s.bytes), true],
				[fmtInt(s.drops), true], [since], [s.connected ? 'live' : 'gone']];
			for (const c of cells) {
				const td = document.createElement('td');
				td.textContent = c[0];
				if (c[1]) td.className = 'num';
				tr.appendChild(td);
			}
			frag.appendChild(tr);
		}
		body.replaceChildren(frag);
		$('sources-count').textContent = String(list.length);
	}

	// ---- data ----
	function authHeaders() { return { Authorization: 'Bearer ' + token }; }

	function handleMessage(ev) {
		let msg;
		try { msg = JSON.parse(ev.data); } catch (e) { return; }
		switch (msg.type) {
		case 'hello':
			setState('live', 'live');
			retryDelay = 500;
			break;
		case 'records':
			for (const r of msg.records) {
				if (r.index <= lastIndex) continue;
				lastIndex = r.index;
				addRecord(r);
			}
			ws.send(JSON.stringify({ ack: msg.seq }));
			scheduleDraw();
			break;
		case 'sources':
			drawSources(msg.sources);
			break;
		case 'skipped':
			skippedTotal += msg.count;
			if (msg.next_index > 0) lastIndex = Math.max(lastIndex, msg.next_index - 1);
			notice('Too slow: skipped ' + skippedTotal + ' records');
			break;
		}
	}

	// A WebSocket refused before the upgrade only says "closed": ask the REST
	// API whether the token is the reason.
	async function diagnoseClose() {
		try {
			const res = await fetch('/v1/sources', { headers: authHeaders(), cache: 'no-store' });
			if (res.status === 401) {
				refused = true;
				setState('refused', 'token refused');
				return;
			}
		} catch (e) { /* the hub is unreachable: keep trying */ }
		setState('reconnecting', 'reconnecting');
		setTimeout(connect, retryDelay);
		retryDelay = Math.min(retryDelay * 2, 10000);
	}

	function connect() {
		if (refused) return;
		const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
			'/v1/live?after=' + lastIndex;
		ws = new WebSocket(url, ['podscope.v1', 'podscope.bearer.' + token]);
		ws.onmessage = handleMessage;
		ws.onclose = () => { ws = null; diagnoseClose(); };
	}

	async function download() {
		const button = $('download');
		button.disabled = true;
		try {
			const res = await fetch('/v1/capture.pcapng', { headers: authHeaders(), cache: 'no-store' });
			if (!res.ok) throw new Error('HTTP ' + res.status);
			const blob = await res.blob();
			const a = document.createElement('a');
			a.href = URL.createObjectURL(blob);
			a.download = 'podscope-' + new Date().toISOString().replace(/[:.]/g, '-') + '.pcapng';
			document.body.appendChild(a);
			a.click();
			a.remove();
			setTimeout(() => URL.revokeObjectURL(a.href), 60000);
		} catch (e) {
			notice('Download failed: ' + e.message);
		} finally {
			button.disabled = false;
		}
	}

	$('filter').addEventListener('input', (ev) => {
		filterTerms = parseFilter(ev.target.value);
		scheduleDraw();
	});
	$('download').addEventListener('click', download);
	$('detail-close').addEventListener('click', () => {
		$('detail').hidden = true;
		document.body.classList.remove('with-detail');
		selected = null;
		scheduleDraw();
	});

	if (!token) {
		setState('no-token', 'no token');
		notice('Open the address podscope printed: it ends with #token=…');
		return;
	}
	connect();
})();
