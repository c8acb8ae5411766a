/* The report's only script (pinned by its hash in the Content-Security-Policy). It reads the events from
   the JSON data block and builds rows with textContent, never innerHTML: evidence stays text. Rows are
   rendered a few hundred at a time, so a case of 100,000 events stays quick. */
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var rows = D.rows;
  var total = rows.length;
  var PAGE = 200;
  var OCR_KIND = D.kinds.indexOf('ocr');
  var $ = function (id) { return document.getElementById(id); };

  // Day of each row (runs of [day, first row], rows are in time order; undated rows have day null).
  var dayOf = new Int32Array(total);
  for (var k = 0; k < D.days.length; k++) {
    var stop = k + 1 < D.days.length ? D.days[k + 1][1] : total;
    for (var i = D.days[k][1]; i < stop; i++) { dayOf[i] = k; }
  }
  function dayText(i) { var d = D.days[dayOf[i]]; return d ? d[0] : null; }

  var flagCount = {};
  var setCount = new Int32Array(D.flagsets.length);
  for (i = 0; i < total; i++) { setCount[rows[i][7] || 0] += 1; }
  D.flagsets.forEach(function (fs, n) {
    fs.forEach(function (f) { flagCount[f] = (flagCount[f] || 0) + setCount[n]; });
  });

  function option(select, value, label) {
    var o = document.createElement('option');
    o.value = value; o.textContent = label; select.appendChild(o);
  }
  D.people.forEach(function (p, n) {
    var what = p[1] === 'owner' ? '' : p[1] === 'confirmed' ? ' (confirmed)' : '';
    option($('f-person'), String(n), p[0] + what + ' - ' + p[2]);
  });
  var platformCount = new Int32Array(D.platforms.length);
  for (i = 0; i < total; i++) { platformCount[rows[i][3]] += 1; }
  D.platforms.forEach(function (p, n) { option($('f-platform'), String(n), p + ' - ' + platformCount[n]); });
  Object.keys(flagCount).sort().forEach(function (f) { option($('f-flag'), f, f + ' - ' + flagCount[f]); });
  var days = D.days.filter(function (d) { return d[0]; });
  if (days.length) {
    ['f-from', 'f-to'].forEach(function (id) { $(id).min = days[0][0]; $(id).max = days[days.length - 1][0]; });
  }

  var state = { person: '', platform: '', flag: '', from: '', to: '', text: '', conv: -1 };
  var matches = new Int32Array(total);
  var count = 0, start = 0, end = 0;
  var hits = null;

  function apply() {
    var person = state.person === '' ? -1 : +state.person;
    var platform = state.platform === '' ? -1 : +state.platform;
    var setOk = null;
    if (state.flag) {
      setOk = new Uint8Array(D.flagsets.length);
      D.flagsets.forEach(function (fs, n) { setOk[n] = fs.indexOf(state.flag) >= 0 ? 1 : 0; });
    }
    var dayOk = null;
    if (state.from || state.to) {
      dayOk = new Uint8Array(D.days.length);
      D.days.forEach(function (d, n) {
        dayOk[n] = d[0] && (!state.from || d[0] >= state.from) && (!state.to || d[0] <= state.to) ? 1 : 0;
      });
    }
    var needle = state.text.trim().toLowerCase();
    count = 0;
    for (var i = 0; i < total; i++) {
      var r = rows[i];
      if (person >= 0 && r[2] !== person) continue;
      if (platform >= 0 && r[3] !== platform) continue;
      if (state.conv >= 0 && r[8] !== state.conv) continue;
      if (setOk && !setOk[r[7] || 0]) continue;
      if (dayOk && !dayOk[dayOf[i]]) continue;
      if (needle && (r[1] + ' ' + (r[10] || '') + ' ' + (r[14] || '') + ' ' + D.people[r[2]][0])
        .toLowerCase().indexOf(needle) < 0) continue;
      matches[count++] = i;
    }
  }

  function el(tag, parent, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }

  function rowElement(i) {
    var r = rows[i];
    var tr = document.createElement('tr');
    tr.dataset.i = String(i);
    if (hits && i >= hits[0] && i <= hits[1] && r[2] === hits[2]) tr.className = 'hit';
    el('td', tr, String(i + 1), 'num small');
    var when = el('td', tr, null, 'when');
    var day = dayText(i);
    el('div', when, day ? day + (r[0] ? ' ' + r[0] : '') : 'undated');
    if (r[12]) el('div', when, 'as written: ' + r[12], 'small');
    var who = el('td', tr);
    el('div', who, D.people[r[2]][0]);
    if (r[10]) el('div', who, r[10], 'small');
    if (r[11] !== undefined && r[11] !== null) el('div', who, 'suggested: ' + D.suggested[r[11]], 'small');
    var channel = el('td', tr);
    el('div', channel, D.platforms[r[3]]);
    el('div', channel, D.kinds[r[4]], 'small');
    var conv = D.convs[r[8]];
    if (conv) el('div', channel, 'conversation: ' + conv, 'small');
    var what = el('td', tr);
    if (r[4] === OCR_KIND) {
      el('span', what, 'Read from a screenshot' + (r[13] !== undefined && r[13] !== null ? ' (screenshot ' + (r[13] + 1) + ')' : ''), 'ocrnote');
      var source = r[13] !== undefined && r[13] !== null ? $('shot-' + r[13]) : null;
      if (source) {
        var img = el('img', what, null, 'thumb');
        img.src = source.src;
        img.alt = 'Screenshot ' + (r[13] + 1);
      }
    }
    if (r[14]) el('strong', el('div', what), r[14]);
    el('div', what, r[1], 'text');
    var flags = el('td', tr);
    (D.flagsets[r[7] || 0] || []).forEach(function (f) {
      var chip = el('span', flags, f, 'flag ' + f);
      chip.title = f + ': ' + (D.flagText[f] ? D.flagText[f][0] : 'a caveat from the source');
    });
    var src = el('td', tr, null, 'src');
    el('span', src, D.sources[r[5]][0], 'hash');
    el('div', src, r[6], 'small');
    if (r[9]) el('div', src, 'seen ' + r[9] + ' times', 'small');
    var around = el('button', src, 'conversation', 'link');
    around.type = 'button';
    around.dataset.around = String(i);
    return tr;
  }

  function status() {
    var shown = end > start ? (start + 1) + '-' + end : '0';
    $('tl-status').textContent = count === total
      ? 'Showing ' + shown + ' of all ' + total + ' events.'
      : 'Showing ' + shown + ' of ' + count + ' events that match the filters (of ' + total + ').';
    $('tl-more').hidden = end >= count;
    $('tl-earlier').hidden = start <= 0;
    $('tl-print-note').textContent = 'Printed: rows ' + shown + ' of the ' + count +
      ' events matching the filters chosen on screen (' + describe() + '). The full timeline has ' + total + ' events.';
    var f = state.flag && D.flagText[state.flag];
    $('tl-flag-help').textContent = f ? state.flag + ': ' + f[0] + ' What it does not mean: ' + f[1] : '';
  }

  function describe() {
    var parts = [];
    if (state.person !== '') parts.push('person: ' + D.people[+state.person][0]);
    if (state.platform !== '') parts.push('channel: ' + D.platforms[+state.platform]);
    if (state.conv >= 0) parts.push('conversation: ' + D.convs[state.conv]);
    if (state.flag) parts.push('flag: ' + state.flag);
    if (state.from) parts.push('from ' + state.from);
    if (state.to) parts.push('to ' + state.to);
    if (state.text) parts.push('text contains "' + state.text + '"');
    return parts.length ? parts.join(', ') : 'no filter';
  }

  function renderWindow(from, to) {
    var body = $('tl-body');
    var fresh = document.createElement('tbody');
    fresh.id = 'tl-body';
    for (var j = from; j < to; j++) fresh.appendChild(rowElement(matches[j]));
    body.parentNode.replaceChild(fresh, body);
    start = from; end = to;
    status();
  }

  function more(step) {
    var to = Math.min(count, end + (step || PAGE));
    var body = $('tl-body');
    var frag = document.createDocumentFragment();
    for (var j = end; j < to; j++) frag.appendChild(rowElement(matches[j]));
    body.appendChild(frag);
    end = to;
    status();
  }

  function earlier() {
    var from = Math.max(0, start - PAGE);
    var body = $('tl-body');
    var frag = document.createDocumentFragment();
    for (var j = from; j < start; j++) frag.appendChild(rowElement(matches[j]));
    body.insertBefore(frag, body.firstChild);
    start = from;
    status();
  }

  function refresh() {
    hits = null;
    apply();
    renderWindow(0, Math.min(count, PAGE));
    $('tl-conv').className = state.conv >= 0 ? 'on' : '';
    $('tl-conv-text').textContent = state.conv >= 0 ? 'Showing one conversation: ' + D.convs[state.conv] + ' (' + D.platforms[+state.platform] + ').' : '';
  }

  function readInputs() {
    state.person = $('f-person').value;
    state.platform = $('f-platform').value;
    state.flag = $('f-flag').value;
    state.from = $('f-from').value;
    state.to = $('f-to').value;
    state.text = $('f-text').value;
  }

  function setInputs() {
    $('f-person').value = state.person;
    $('f-platform').value = state.platform;
    $('f-flag').value = state.flag;
    $('f-from').value = state.from;
    $('f-to').value = state.to;
    $('f-text').value = state.text;
  }

  function position(rowIndex) { // first match at or after rowIndex (matches are in row order)
    var lo = 0, hi = count;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (matches[mid] < rowIndex) lo = mid + 1; else hi = mid; }
    return lo;
  }

  // The conversation around rows first..last of one person: that conversation alone, scrolled to them.
  function showAround(first, last) {
    var r = rows[first];
    state = { person: '', platform: String(r[3]), flag: '', from: '', to: '', text: '', conv: r[8] };
    setInputs();
    apply();
    var a = position(first), b = position(last);
    hits = [first, last, r[2]];
    renderWindow(Math.max(0, a - 10), Math.min(count, Math.max(b + 11, a + 40)));
    $('tl-conv').className = 'on';
    $('tl-conv-text').textContent = 'Showing the conversation ' + (D.convs[r[8]] || '(none)') + ' (' + D.platforms[r[3]] + ') around row ' + (first + 1) + '.';
    var target = document.querySelector('#tl-body tr[data-i="' + first + '"]');
    (target || $('timeline')).scrollIntoView();
  }

  var typing = null;
  ['f-person', 'f-platform', 'f-flag', 'f-from', 'f-to'].forEach(function (id) {
    $(id).addEventListener('change', function () { readInputs(); refresh(); });
  });
  $('f-text').addEventListener('input', function () {
    clearTimeout(typing);
    typing = setTimeout(function () { readInputs(); refresh(); }, 200);
  });
  $('f-clear').addEventListener('click', function () {
    state = { person: '', platform: '', flag: '', from: '', to: '', text: '', conv: -1 };
    setInputs(); refresh();
  });
  $('tl-conv-clear').addEventListener('click', function () { state.conv = -1; readInputs(); refresh(); });
  $('tl-more-btn').addEventListener('click', function () { more(); });
  $('tl-earlier').addEventListener('click', earlier);
  $('tl-all-btn').addEventListener('click', function () {
    if (count - end > 5000 && !window.confirm('Show all ' + count + ' rows? This can take a while.')) return;
    more(count - end);
  });
  document.addEventListener('click', function (event) {
    var t = event.target;
    if (!(t instanceof Element)) return;
    if (t.dataset.around) { showAround(+t.dataset.around, +t.dataset.around); }
    else if (t.dataset.incident) {
      var inc = D.incidents[+t.dataset.incident];
      showAround(inc[2], inc[3]);
    } else if (t.dataset.flag) {
      state = { person: '', platform: '', flag: t.dataset.flag, from: '', to: '', text: '', conv: -1 };
      setInputs(); refresh();
      $('timeline').scrollIntoView();
    }
  });
  if ('IntersectionObserver' in window) {
    new IntersectionObserver(function (entries) {
      if (entries[0].isIntersecting && end < count && end - start < 5000) more();
    }).observe($('tl-more'));
  }
  window.addEventListener('beforeprint', function () {
    if (count - (end - start) <= 3000) { renderWindow(0, count); }
  });

  // Every incident, a hundred at a time.
  var incShown = 0;
  function duration(s) {
    if (s === null || s === undefined) return 'first';
    if (s < 3600) return Math.round(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' hours';
    return (s / 86400).toFixed(1) + ' days';
  }
  function moreIncidents() {
    var body = document.querySelector('#incident-table tbody');
    var to = Math.min(D.incidents.length, incShown + 100);
    var frag = document.createDocumentFragment();
    for (var n = incShown; n < to; n++) {
      var inc = D.incidents[n];
      var tr = el('tr', frag);
      el('td', tr, inc[0], 'mono');
      el('td', tr, D.people[inc[1]][0]);
      el('td', tr, (dayText(inc[2]) || '') + ' ' + rows[inc[2]][0], 'when');
      el('td', tr, (dayText(inc[3]) || '') + ' ' + rows[inc[3]][0], 'when');
      el('td', tr, String(inc[4]), 'num');
      el('td', tr, duration(inc[5]), 'num');
      var b = el('button', el('td', tr), 'show the conversation', 'link');
      b.type = 'button';
      b.dataset.incident = String(n);
    }
    body.appendChild(frag);
    incShown = to;
    $('inc-more').hidden = incShown >= D.incidents.length;
    $('inc-status').textContent = incShown + ' of ' + D.incidents.length + ' incidents listed.';
  }
  $('inc-more').addEventListener('click', moreIncidents);

  refresh();
  moreIncidents();
  document.documentElement.dataset.ready = String(Math.round(performance.now()));
})();
