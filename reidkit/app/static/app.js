// reidkit web app: plain JavaScript, no build step. Views: search (home), results, library, watchlist, alerts.
"use strict";

// Moments a search shows at first, and at most ("Show more" doubles it; the API's own limit).
const DEFAULT_TOP = 20, MAX_TOP = 200;
const state = { status: null, jobs: [], media: [], result: null, queryId: null, top: DEFAULT_TOP, threshold: null,
                playing: null, boxes: [], draw: 0, events: null, pendingQuery: null, previewTimer: null, uploadProblems: [] };

// ---------------------------------------------------------------------------------------- helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "hidden") el.hidden = true;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

async function api(method, url, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  let response;
  try { response = await fetch(url, options); }
  catch (e) { throw new Error("The server cannot be reached. Is `reidkit serve` still running?"); }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || `The server answered ${response.status}.`);
  return data;
}

function say(text, kind) {
  const box = document.getElementById("message");
  if (!text) { box.hidden = true; return; }
  box.textContent = text; box.className = kind === "info" ? "info" : ""; box.hidden = false;
}

// An error about one of the user's files, with the file's name (a size limit is checked before the name is read).
const named = (error, name) => error.message.includes(name) ? error : new Error(`${name}: ${error.message}`);

// ``keep``: a redraw, not the user's action: the message box keeps what the last action said.
async function attempt(fn, keep) {
  try { if (!keep) say(""); return await fn(); } catch (e) { say(e.message); return undefined; }
}

function time(s) {
  const tenths = Math.round(Math.max(0, s) * 10), m = Math.floor(tenths / 600), rest = tenths % 600;
  const hours = Math.floor(m / 60), mm = String(m % 60).padStart(2, "0");
  const ss = String(Math.floor(rest / 10)).padStart(2, "0") + "." + (rest % 10);
  return (hours ? hours + ":" : "") + mm + ":" + ss;
}

// When it happened on the clock, in the browser's time zone (the file said when it was recorded), or "".
const clock = iso => iso ? new Date(iso).toLocaleString() : "";

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const view = () => document.getElementById("view");

function dropZone(label, accept, onFiles, id, multiple) {
  const input = h("input", { type: "file", accept, id, multiple: multiple || null,
    onchange: () => { if (input.files.length) onFiles([...input.files]); input.value = ""; } });
  // The input is hidden (the zone is its face): the zone takes the focus, and Enter or Space opens it.
  const zone = h("label", { class: "drop", tabindex: 0, role: "button" }, input, label);
  zone.addEventListener("keydown", e => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  zone.addEventListener("dragover", e => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", e => { e.preventDefault(); zone.classList.remove("over");
    if (e.dataTransfer.files.length) onFiles([...e.dataTransfer.files]); });
  return zone;
}

// ----------------------------------------------------------------------------------------- router
async function route() {
  stopPlayer();
  const hash = location.hash || "#/";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", hash.startsWith("#/" + (a.dataset.view === "home" ? "" : a.dataset.view)) && (a.dataset.view !== "home" || hash === "#/" || hash.startsWith("#/q/")));
  await refreshStatus();
  const parts = hash.slice(2).split("/");
  if (parts[0] === "q" && parts[1]) return showResults(parts[1]);
  if (parts[0] === "library") return showLibrary();
  if (parts[0] === "watchlist") return showWatchlist();
  if (parts[0] === "alerts") return showAlerts();
  return showHome();
}

async function refreshStatus() {
  try { state.status = await api("GET", "/api/status"); } catch (e) { say(e.message); return; }
  document.getElementById("library-name").textContent =
    `Library: ${state.status.library} · ${plural(state.status.media, "file")}` + (state.status.model ? ` · ${state.status.model}` : "") +
    (state.status.verdict_model ? ` (verdicts by ${state.status.verdict_model}, adapted to this library)` : "");
  try {
    // The badge counts the alerts that came since the Alerts page was last shown (in this browser).
    const seen = Number(localStorage.getItem("reidkit-alerts-seen") || 0);
    const fresh = (await api("GET", "/api/alerts")).filter(a => a.created > seen).length;
    const badge = document.getElementById("alert-count");
    badge.textContent = fresh; badge.hidden = fresh === 0;
  } catch (e) { /* the alerts badge is optional */ }
}

// ------------------------------------------------------------------------------------------- home
function addMediaPanel() {
  const panel = h("section", { class: "panel", id: "add-media" }, h("h1", {}, "Add media"));
  panel.append(dropZone("Drop videos or photos here, or click to choose (they are copied into the library)",
    "video/*,image/*,.264,.h264,.mkv,.avi", files => uploadMedia(files), "media-file", true));
  if (state.status && state.status.add_by_path) {
    const input = h("input", { type: "text", id: "add-path-input", size: 60,
      placeholder: "a file or folder on the server, e.g. " + (state.status.allow_roots[0] || "/videos") + "/clip.mp4" });
    const stride = h("input", { type: "number", id: "add-stride", min: 1, max: 100, placeholder: "auto", class: "small" });
    panel.append(h("p", { class: "row" }, input, h("label", { class: "small muted" }, "every Nth frame ", stride),
      h("button", { id: "add-path-button", class: "primary", onclick: () => attempt(async () => {
        const body = { path: input.value };
        if (stride.value) body.stride = Number(stride.value);
        const data = await api("POST", "/api/library/paths", body);
        say(`Indexing ${plural(data.jobs.length, "file")}; progress is shown below.`, "info");
        input.value = stride.value = "";  // added: the form is empty again
        if (location.hash.startsWith("#/library")) await showLibrary(); else location.hash = "#/library";
      }) }, "Add from server")));
    panel.append(h("p", { class: "small muted" }, "Server folders you may add from (a relative path is looked for in them): " + state.status.allow_roots.join(", ")));
  }
  panel.append(h("p", { class: "small muted" }, "Or from a terminal: ", h("code", {}, "reidkit index VIDEOS_OR_FOLDERS --library " + (state.status ? state.status.library : "LIBRARY"))));
  // The files an upload could not add, kept on the panel (the page redraws, and the message box with it,
  // whenever a job ends) until the next upload or "OK".
  if (state.uploadProblems.length) {
    panel.append(h("div", { class: "notes", id: "upload-problems" }, h("b", {}, `Not added (${state.uploadProblems.length}):`),
      h("ul", {}, ...state.uploadProblems.map(p => h("li", {}, p))),
      h("button", { class: "small", onclick: () => { state.uploadProblems = []; document.getElementById("upload-problems").remove(); } }, "OK")));
  }
  return panel;
}

async function uploadMedia(files) {
  state.uploadProblems = [];
  let added = 0;
  for (const file of files) {
    say(`Uploading ${file.name}…`, "info");
    try {
      const form = new FormData(); form.append("file", file);
      await api("POST", "/api/library/upload", form);
      added += 1;
    } catch (e) {
      state.uploadProblems.push(named(e, file.name).message);
    }
  }
  say(added ? `${plural(added, "file")} uploaded; indexing runs in the background.` : "", "info");
  if (!location.hash.startsWith("#/library")) location.hash = "#/library"; else showLibrary();
}

async function showHome() {
  const root = view();
  if (!state.status || state.status.tracklets === 0) {
    root.replaceChildren(
      h("section", { class: "panel empty-library" }, h("h1", {}, "This library is empty"),
        h("p", {}, "Add videos or photos first, or ", h("a", { href: "#/library" }, "a camera"), ": reidkit finds the people in them, and then you can search for anyone with one photo."),
        state.status && state.status.busy ? h("p", {}, "Indexing is running — ", h("a", { href: "#/library" }, "see its progress"), ".") : null),
      addMediaPanel(), jobsPanel());
    renderJobs();
    return;
  }
  const status = h("div", { class: "small muted", id: "photo-status" });
  const picker = h("div", { id: "picker" });
  root.replaceChildren(
    h("section", { class: "panel" }, h("h1", {}, "Find a person"),
      h("p", { class: "muted" }, "Upload a photo of them: a crop of the person, or a scene where you click them. Several photos of one person make a better search."),
      dropZone("Drop a photo here or click to choose one", "image/*", files => queryFromPhotos(files, picker, status), "photo-input", true),
      status, picker),
    h("h2", {}, "People in the library"), h("div", { class: "people", id: "people" }, h("p", { class: "muted" }, "Finding the people…")));
  const people = await attempt(() => api("GET", "/api/people"));
  const grid = document.getElementById("people");
  if (!grid || !people) return;
  grid.replaceChildren(...people.map(p => h("button", { class: "tile", title: "Search for this person",
    onclick: () => attempt(async () => { const q = await api("POST", "/api/queries", { tracklet_id: p.best_tracklet }); location.hash = "#/q/" + q.query_id; }) },
    h("img", { src: p.thumbnail_url, alt: p.name || `person ${p.id}`, loading: "lazy" }),
    h("span", { class: "label" }, h("b", {}, p.name || `Person ${p.id}`),
      `${plural(p.visits, "visit")}` + (p.videos ? ` · ${plural(p.videos, "video")}` : "") + (p.images ? ` · ${plural(p.images, "photo")}` : ""),
      h("br"), `first in ${p.first_seen.media}` + (p.first_seen.kind === "image" ? "" : ` at ${time(p.first_seen.start)}`),
      p.first_seen.recorded_start ? h("span", { class: "clock" }, h("br"), clock(p.first_seen.recorded_start)) : null))));
  if (!people.length) grid.replaceChildren(h("p", { class: "muted" }, "Nobody has been found in the footage yet."));
}

// Upload photos one by one; a scene asks which person is meant. All photos go into one query.
async function queryFromPhotos(files, picker, status, queryId) {
  let query = queryId || null;
  for (const file of files) {
    status.textContent = `Looking for people in ${file.name}…`;
    const form = new FormData(); form.append("photo", file);
    const photo = await attempt(() => api("POST", "/api/photos", form).catch(e => { throw named(e, file.name); }));
    if (!photo) { status.textContent = ""; return; }
    const box = await choosePerson(photo, picker, status);
    if (box === undefined) return;
    const body = { upload_id: photo.upload_id, box };
    const done = await attempt(async () => {
      if (!query) query = (await api("POST", "/api/queries", body)).query_id;
      else await api("POST", `/api/queries/${query}/photos`, body);
      return true;
    });
    if (!done) { status.textContent = ""; return; }
  }
  status.textContent = "";
  if (query) { state.result = null; location.hash = "#/q/" + query; if (queryId) showResults(query); }
}

function choosePerson(photo, picker, status) {
  // A tight crop, or a photo with one person: no question to ask.
  if (photo.crop_like || photo.people.length === 0) return Promise.resolve(null);
  if (photo.people.length === 1) return Promise.resolve(photo.people[0]);
  return new Promise(resolve => {
    status.textContent = `${photo.name}: ${photo.people.length} people found. Click the one to search for.`;
    const img = h("img", { src: photo.url, alt: photo.name });
    const frame = h("div", { class: "picker" }, img);
    // In percent of the photo: the boxes stay on the people when the window (and the photo) is resized.
    const pct = (v, of) => `${100 * v / of}%`;
    for (const [i, b] of photo.people.entries()) {
      const button = h("button", { class: "pick", title: `person ${i + 1}`, "aria-label": `person ${i + 1}`,
        onclick: () => { picker.replaceChildren(); resolve(b); } });
      Object.assign(button.style, { left: pct(b[0], photo.width), top: pct(b[1], photo.height),
        width: pct(b[2] - b[0], photo.width), height: pct(b[3] - b[1], photo.height) });
      frame.append(button);
    }
    picker.replaceChildren(frame, h("p", {}, h("button", { onclick: () => { picker.replaceChildren(); status.textContent = ""; resolve(undefined); } }, "Cancel")));
  });
}

// ---------------------------------------------------------------------------------------- results
async function showResults(queryId, keepThreshold) {
  const root = view();
  if (state.queryId !== queryId) { state.threshold = null; state.result = null; state.top = DEFAULT_TOP; }
  state.queryId = queryId;
  if (!state.result) root.replaceChildren(h("p", { class: "muted" }, "Searching…"));
  const result = await attempt(() => api("GET", `/api/queries/${queryId}/results?top=${state.top}`));
  if (!result) { if (!state.result) root.replaceChildren(h("p", {}, h("a", { href: "#/" }, "← new search"))); return; }
  state.result = result;
  if (state.threshold === null || !keepThreshold) state.threshold = state.threshold ?? shownFrom(result);
  renderResults();
}

// The moments an annotated video shows: likely or confirmed, in a video, not rejected (as the server picks).
const videoMoments = result => result.moments.filter(m => m.kind === "video" && m.media_id && m.feedback !== "rejected" && (m.likely || m.feedback === "confirmed"));

// The annotated video takes seconds to make: a button that says so while it does, then downloads it.
function exportVideoButton(url, moments) {
  // One video: the first one's moments (the server's pick), with the person's box drawn.
  const video = moments[0].name, shown = moments.filter(m => m.media_id === moments[0].media_id).length;
  const label = `Annotated video: ${video}`;
  const button = h("button", { id: "export-video", title: `${plural(shown, "moment")} of ${video}, with the person's box drawn`, onclick: () => attempt(async () => {
    button.disabled = true; button.textContent = "Making the video…";
    try {
      const response = await fetch(url);
      if (!response.ok) {
        let message = `The server answered ${response.status}.`;
        try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
        throw new Error(message);
      }
      const name = (/filename="?([^";]+)"?/.exec(response.headers.get("content-disposition") || "") || [])[1] || "annotated.mp4";
      const link = h("a", { href: URL.createObjectURL(await response.blob()), download: name });
      document.body.append(link); link.click(); link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    } finally { button.disabled = false; button.textContent = label; }
  }) }, label);
  return button;
}

// Where the score slider starts: the verdict's threshold, or lower where a likely moment scores below it
// (the library grouped it with the best match), so every moment the headline counts is on the page.
function shownFrom(result) {
  const likely = result.moments.filter(m => m.likely && m.feedback !== "rejected").map(m => m.score);
  return Math.min(result.verdict.threshold, ...likely);
}

function renderResults() {
  const result = state.result, root = view();
  const likely = result.moments.filter(m => m.likely && m.feedback !== "rejected");
  const videos = new Set(likely.filter(m => m.kind === "video").map(m => m.name)).size;
  const photos = new Set(likely.filter(m => m.kind === "image").map(m => m.name)).size;
  const where = [videos ? plural(videos, "video") : null, photos ? plural(photos, "photo") : null].filter(Boolean).join(" and ");
  const headline = likely.length
    ? h("h1", { class: "found", id: "headline" }, `Found: ${result.more_likely ? `${likely.length}+ moments` : plural(likely.length, "moment")} likely the same person, in ${where}`)
    : h("h1", { class: "notfound", id: "headline" }, "Not found: no moment is likely the same person");
  const photosRow = h("div", { class: "row" }, ...result.photos.map(p => h("img", { src: p.url, alt: p.name, title: p.name })),
    ...result.seed_tracklets.map(t => h("img", { src: `/api/tracklets/${t}/thumbnail`, alt: "library person" })));
  const extra = h("div", { id: "picker" }), extraStatus = h("span", { class: "small muted" });
  const addPhoto = dropZone("+ add another photo of this person", "image/*", files => queryFromPhotos(files, extra, extraStatus, state.queryId), "add-photo-input", true);
  addPhoto.classList.add("small");
  const refinable = result.confirmed.length + result.rejected.length;
  const slider = h("input", { type: "range", id: "threshold", min: "-1", max: "1", step: "0.005", value: state.threshold,
    oninput: () => { state.threshold = Number(slider.value); applyThreshold(); } });
  const nameInput = h("input", { type: "text", id: "save-name", placeholder: "name", size: 16, maxlength: 80 });
  const exportBase = `/api/queries/${result.query_id}/export?top=${state.top}`;
  root.replaceChildren(
    h("p", {}, h("a", { href: "#/" }, "← new search")),
    h("section", { class: "panel" },
      h("div", { class: "query-head" }, photosRow, h("div", {}, headline,
        h("div", { class: "verdict muted" }, `Query ${result.query}. “Likely the same person”: the best match scores at least ${result.verdict.threshold.toFixed(3)}, and the library groups the other likely moments with it as one person. That threshold is ${result.verdict.source}. Model ${result.model}.`),
        ...result.order_notes.map(n => h("div", { class: "notes" }, n)),
        // The server finds one moment more than it shows: when that one is likely too, say so and offer more.
        result.more_likely && state.top < MAX_TOP
          ? h("div", { class: "notes", id: "more-likely" }, `More moments than these ${result.moments.length} are likely the same person. `,
              h("button", { id: "show-more", onclick: () => { state.top = Math.min(MAX_TOP, 2 * state.top); showResults(state.queryId, true); } }, "Show more"))
          : result.more_likely
            ? h("div", { class: "notes", id: "more-likely" }, `More moments than these ${result.moments.length} are likely the same person; the page shows at most ${MAX_TOP}; \`reidkit search --top\` lists more.`)
            : null)),
      h("div", { class: "controls" },
        h("label", {}, "Show scores from ", slider, " ", h("b", { id: "threshold-value" }, "")),
        h("button", { onclick: () => { state.threshold = shownFrom(result); slider.value = state.threshold; applyThreshold(); } }, "Reset to calibrated"),
        h("span", { id: "shown", class: "small muted" })),
      h("div", { class: "controls" },
        h("button", { id: "refine", class: refinable ? "primary" : "", disabled: refinable ? null : true,
          onclick: () => { state.result = null; showResults(state.queryId, true); } },
          refinable ? `Search again with your feedback (${result.confirmed.length} yes, ${result.rejected.length} no)` : "Search again with your feedback"),
        h("span", { class: "row" }, nameInput, h("button", { id: "save-button", onclick: () => savePerson(nameInput.value) }, "Save person")),
        h("a", { class: "button", id: "export-csv", href: exportBase + "&format=csv", download: "" }, "CSV"),
        h("a", { class: "button", id: "export-json", href: exportBase + "&format=json", download: "" }, "JSON"),
        videoMoments(result).length ? exportVideoButton(`/api/queries/${result.query_id}/annotated?top=${state.top}`, videoMoments(result))
          : h("span", { class: "small muted", id: "export-video-none" }, "no video moment to annotate")),
      addPhoto, extraStatus, extra),
    // Feedback re-renders the page: the player is kept as it is, so a playing moment goes on playing.
    document.getElementById("player-panel") ||
    h("div", { id: "player-panel", class: "hidden" }, h("div", { id: "player" }, h("video", { controls: true, muted: true, playsinline: true, preload: "metadata" }), h("canvas")),
      h("div", { id: "player-caption", class: "small muted" })),
    h("h2", {}, "Timeline"), h("section", { class: "panel", id: "timelines" }),
    h("h2", {}, "Moments"), h("div", { class: "grid", id: "cards" }));
  renderTimelines(); renderCards(); applyThreshold();
}

function visible(m) { return m.feedback === "confirmed" || m.score >= state.threshold - 1e-9; }

function applyThreshold() {
  const moments = state.result.moments;
  for (const el of document.querySelectorAll("[data-rank]")) el.classList.toggle("hidden", !visible(moments[Number(el.dataset.rank) - 1]));
  const shown = moments.filter(visible).length;
  document.getElementById("threshold-value").textContent = state.threshold.toFixed(3);
  document.getElementById("shown").textContent = `${shown} of ${plural(moments.length, "moment")} shown` +
    (shown < moments.length ? ` — ${moments.length - shown} below this score are hidden; slide left to see them` : "");
  renderTimelines();
}

// Segments in lanes: each goes into the first lane where it overlaps nothing (including the minimum
// width a short one is drawn at), so segments never hide each other. items: [rank, moment, start, end]
// on an axis that starts at `from` and is `span` long.
function laneBar(items, from, span) {
  const minWidth = span * 0.012, lanes = [], placed = [];
  for (const [rank, m, start, stop] of [...items].sort((a, b) => a[2] - b[2])) {
    const end = Math.max(stop, start + minWidth);
    let lane = lanes.findIndex(last => last <= start);
    if (lane < 0) { lane = lanes.length; lanes.push(0); }
    lanes[lane] = end + span * 0.004;
    placed.push([rank, m, lane, start, end]);
  }
  const bar = h("div", { class: "lanes" });
  bar.style.height = (lanes.length * 18 + 4) + "px";
  for (const [rank, m, lane, start, end] of placed) {
    const cls = m.feedback === "rejected" ? "rejected" : m.likely ? "likely" : "candidate";
    const when = m.recorded_start ? ` (${clock(m.recorded_start)})` : "";
    const seg = h("button", { class: "seg " + cls, title: `#${rank} ${m.name} ${time(m.start)}–${time(m.end)}${when} score ${m.score.toFixed(3)}`, dataset: { seg: rank },
      onclick: () => play(rank) }, String(rank));
    seg.style.left = (100 * (start - from) / span) + "%"; seg.style.width = (100 * (end - start) / span) + "%";
    seg.style.top = (2 + lane * 18) + "px";
    bar.append(seg);
  }
  return bar;
}

const track = (label, detail, bar, ticks) => h("div", { class: "track" },
  h("div", { class: "label" }, h("b", {}, label), h("span", { class: "muted small" }, detail)), bar, h("div", { class: "ticks" }, ...ticks.map(t => h("span", {}, t))));

// Moments whose files say when they were recorded, one row per folder (a camera's, for the segments
// reidkit records) on one clock: where the person went, and when, across cameras and days of segments.
function clockTracks(ranked) {
  const at = ([, m]) => [Date.parse(m.recorded_start), Date.parse(m.recorded_end)];
  const first = Math.min(...ranked.map(r => at(r)[0])), last = Math.max(...ranked.map(r => at(r)[1]));
  const span = Math.max(last - first, 60e3) * 1.04, from = first - (span / 1.04) * 0.02;
  // Ticks name the year where the moments span years (2017 and 2026 are otherwise one "Jul 21 ... Feb 9").
  const years = new Date(first).getFullYear() !== new Date(last).getFullYear();
  const format = years ? { year: "numeric", month: "short", day: "numeric" }
    : span > 20 * 3600e3 ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
    : span > 600e3 ? { hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit", second: "2-digit" };
  const ticks = [0, 1, 2, 3, 4].map(i => new Date(from + span * i / 4).toLocaleString([], format));
  const byFolder = new Map();
  for (const r of ranked) {
    if (!byFolder.has(r[1].folder)) byFolder.set(r[1].folder, []);
    byFolder.get(r[1].folder).push(r);
  }
  return [...byFolder].map(([folder, rows]) => track(folder || "/", `${plural(rows.length, "moment")} · ${plural(new Set(rows.map(([, m]) => m.media)).size, "file")}`,
    laneBar(rows.map(r => [r[0], r[1], ...at(r)]), from, span), ticks));
}

function renderTimelines() {
  const panel = document.getElementById("timelines"); if (!panel) return;
  const shown = state.result.moments.map((m, i) => [i + 1, m]).filter(([, m]) => visible(m));
  const byVideo = new Map();
  for (const [rank, m] of shown) if (m.kind === "video") { if (!byVideo.has(m.name)) byVideo.set(m.name, []); byVideo.get(m.name).push([rank, m]); }
  const clocked = shown.filter(([, m]) => m.recorded_start);
  if (!byVideo.size && !clocked.length) { panel.replaceChildren(h("p", { class: "muted" }, "No video moments at this score.")); return; }
  const rows = [];
  for (const [name, ranked] of byVideo) {
    const duration = Math.max(ranked[0][1].media_duration, ...ranked.map(([, m]) => m.end), 1e-6);
    rows.push(track(name, `${plural(ranked.length, "moment")} · ${time(duration)}`,
      laneBar(ranked.map(([rank, m]) => [rank, m, m.start, m.end]), 0, duration), [0, 1, 2, 3, 4].map(i => time(duration * i / 4))));
  }
  panel.replaceChildren(...(clocked.length ? [h("h3", { id: "clock-heading" }, "By the clock"), h("div", { id: "clock-timeline" }, ...clockTracks(clocked)),
    ...(rows.length ? [h("h3", {}, "By video")] : [])] : []), ...rows);
}

function renderCards() {
  const grid = document.getElementById("cards");
  if (!state.result.moments.length) { grid.replaceChildren(h("div", { class: "panel empty" }, "No moments. Try another photo of the person, or add more media.")); return; }
  grid.replaceChildren(...state.result.moments.map((m, i) => {
    const rank = i + 1;
    const chip = m.feedback === "rejected" ? h("span", { class: "chip rejected" }, "not this person")
      : m.feedback === "confirmed" ? h("span", { class: "chip confirmed" }, "confirmed")
      : m.likely ? h("span", { class: "chip likely" }, "likely match")
      : m.score >= state.result.verdict.threshold ? h("span", { class: "chip candidate" }, "another person")
      : h("span", { class: "chip candidate" }, "below threshold");
    const when = m.kind === "image" ? "photo" : `${time(m.start)} – ${time(m.end)} (${(m.end - m.start).toFixed(1)} s)`;
    return h("div", { class: "card" + (m.feedback ? " " + m.feedback : ""), dataset: { rank, start: m.start, end: m.end, startFrame: m.start_frame, endFrame: m.end_frame, tracklets: m.tracklets.join(","), score: m.score } },
      h("div", { class: "thumb play", title: m.kind === "video" ? "Play this moment" : m.name, onclick: () => play(rank),
        tabindex: 0, role: "button", onkeydown: e => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); play(rank); } } },
        h("img", { src: m.thumbnail_url, alt: `moment ${rank}`, loading: "lazy" }), h("span", { class: "rank" }, "#" + rank), chip),
      h("div", { class: "body" }, h("div", { class: "name" }, m.name), h("div", {}, when),
        m.recorded_start ? h("div", { class: "clock", title: "When it was recorded, as the file says" }, clock(m.recorded_start)) : null,
        h("div", {}, `score ${m.score.toFixed(3)} · p(same) ${m.probability.toFixed(2)}`),
        h("div", { class: "actions" },
          h("button", { class: "confirm", title: "Yes, this is the person", onclick: () => mark(m, m.feedback === "confirmed" ? "clear" : "confirm") }, m.feedback === "confirmed" ? "✓ undo" : "✓ yes"),
          h("button", { class: "reject", title: "No, someone else", onclick: () => mark(m, m.feedback === "rejected" ? "clear" : "reject") }, m.feedback === "rejected" ? "✗ undo" : "✗ no"),
          m.clip_url ? h("a", { class: "button", href: m.clip_url, download: "", title: "Download this moment as mp4" }, "clip") : null)));
  }));
}

async function mark(moment, verdict) {
  const done = await attempt(() => api("POST", `/api/queries/${state.queryId}/feedback`, { tracklets: moment.tracklets, verdict }));
  if (!done) return;
  // Rejected moments drop to the end at once; confirmed ones refine the query on "search again".
  const current = state.result;
  const ids = new Set(moment.tracklets);
  for (const m of current.moments) if (m.tracklets.some(t => ids.has(t))) m.feedback = verdict === "clear" ? null : verdict === "confirm" ? "confirmed" : "rejected";
  current.moments = [...current.moments.filter(m => m.feedback !== "rejected"), ...current.moments.filter(m => m.feedback === "rejected")];
  current.confirmed = done.confirmed; current.rejected = done.rejected;
  renderResults();
}

async function savePerson(name) {
  if (!name.trim()) { say("Type a name for this person first."); return; }
  const person = await attempt(() => api("POST", "/api/watchlist", { query_id: state.queryId, name }));
  if (person) say(`Saved “${person.name}” to the watchlist. New media with them will show up under Alerts.`, "info");
}

// ----------------------------------------------------------------------------------------- player
async function play(rank) {
  const m = state.result.moments[rank - 1];
  for (const card of document.querySelectorAll(".card")) card.classList.toggle("playing", Number(card.dataset.rank) === rank);
  const panel = document.getElementById("player-panel"), video = panel.querySelector("video");
  panel.classList.remove("hidden");
  if (m.kind !== "video" || !m.video_url) return showPhoto(m, rank, panel, video);
  video.classList.remove("hidden");
  const still = panel.querySelector("img.still"); if (still) still.remove();
  document.getElementById("player-caption").textContent = `#${rank} · ${m.name} · ${time(m.start)} – ${time(m.end)}` + (m.recorded_start ? ` (${clock(m.recorded_start)})` : "") + " · the amber box is the person";
  state.playing = m; state.boxes = [];
  attempt(async () => { state.boxes = await api("GET", "/api/boxes?tracklets=" + m.tracklets.join(",")); });
  const start = () => { video.currentTime = m.start; video.play().catch(() => {}); };
  if (video.getAttribute("src") !== m.video_url) {
    video.src = m.video_url;
    video.addEventListener("loadedmetadata", start, { once: true });
    video.addEventListener("error", () => say(`${m.name} cannot be played in this browser.`), { once: true });
  } else start();
  panel.scrollIntoView({ block: "nearest" });
  cancelAnimationFrame(state.draw);
  const loop = () => { drawBoxes(video); state.draw = requestAnimationFrame(loop); };
  state.draw = requestAnimationFrame(loop);
}

// A photo moment: the photo itself with the person's box drawn (the player's canvas over an image).
function showPhoto(m, rank, panel, video) {
  stopPlayer(); video.pause(); video.classList.add("hidden");
  let still = panel.querySelector("img.still");
  if (!still) { still = h("img", { class: "still", alt: m.name }); panel.querySelector("#player").prepend(still); }
  document.getElementById("player-caption").textContent = `#${rank} · ${m.name} (photo) · the amber box is the person`;
  const draw = () => {
    const canvas = panel.querySelector("canvas"), player = panel.querySelector("#player");
    canvas.width = player.clientWidth; canvas.height = player.clientHeight;
    const ctx = canvas.getContext("2d"), s = still.clientWidth / still.naturalWidth;
    const ox = still.offsetLeft, oy = still.offsetTop;
    ctx.lineWidth = 3; ctx.strokeStyle = "#ffb020";
    ctx.strokeRect(ox + m.box[0] * s, oy + m.box[1] * s, (m.box[2] - m.box[0]) * s, (m.box[3] - m.box[1]) * s);
  };
  still.onload = draw; still.src = m.image_url;
  panel.scrollIntoView({ block: "nearest" });
}

function boxAt(track, t) {
  const times = track.times;
  if (!times.length || t < times[0] - 0.15 || t > times[times.length - 1] + 0.15) return null;
  let lo = 0, hi = times.length - 1;
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (times[mid] <= t) lo = mid; else hi = mid - 1; }
  const a = track.boxes[lo], b = track.boxes[Math.min(lo + 1, times.length - 1)];
  const span = times[Math.min(lo + 1, times.length - 1)] - times[lo];
  const f = span > 0 ? Math.min(1, Math.max(0, (t - times[lo]) / span)) : 0;
  return a.map((v, i) => v + (b[i] - v) * f);
}

function drawBoxes(video) {
  const canvas = video.parentElement.querySelector("canvas");
  const w = video.clientWidth, hgt = video.clientHeight;
  if (canvas.width !== w || canvas.height !== hgt) { canvas.width = w; canvas.height = hgt; }
  const ctx = canvas.getContext("2d"); ctx.clearRect(0, 0, w, hgt);
  if (!state.playing || !video.videoWidth) return;
  // The picture is letterboxed inside the element: scale and offset like object-fit: contain.
  const scale = Math.min(w / video.videoWidth, hgt / video.videoHeight);
  const ox = (w - video.videoWidth * scale) / 2, oy = (hgt - video.videoHeight * scale) / 2;
  ctx.lineWidth = 3; ctx.strokeStyle = "#ffb020";
  for (const track of state.boxes) {
    const box = boxAt(track, video.currentTime); if (!box) continue;
    const sx = scale * video.videoWidth / (track.width || video.videoWidth), sy = scale * video.videoHeight / (track.height || video.videoHeight);
    ctx.strokeRect(ox + box[0] * sx, oy + box[1] * sy, (box[2] - box[0]) * sx, (box[3] - box[1]) * sy);
  }
}

function stopPlayer() { cancelAnimationFrame(state.draw); state.playing = null; }

// ---------------------------------------------------------------------------------------- library
const ENDED_JOBS_SHOWN = 5;
function jobsPanel() { return h("section", { class: "panel", id: "jobs-panel" }, h("h1", {}, "Jobs"), h("div", { id: "jobs" })); }

// reidkit adapt: the library's verdicts judged by a model fine-tuned on its own footage (its ranking
// stays, unless the cameras' own light was found and removed from the vectors).
function adaptPanel() {
  const judged = state.status?.verdict_model;
  return h("section", { class: "panel", id: "adapt-panel" }, h("h1", {}, "Adapt to this footage"),
    h("p", { class: "small muted" }, "Fine-tunes the model's last step on this library's own people (no labels: each track is one person, people on screen together are two), then judges “likely the same person” with it. Where the cameras are lit so differently that every video's people look alike, that light is removed from the library's vectors first, which changes the order of results; otherwise the order stays as it is. Takes minutes; without torch on the server only the light is looked for (seconds)."),
    h("p", { class: "row" }, h("button", { id: "adapt-button", onclick: () => attempt(async () => {
      await api("POST", "/api/library/adapt"); say("Adapting the model to this footage…", "info"); }) }, judged ? "Adapt again" : "Adapt"),
      h("span", { class: "small muted", id: "adapt-state" }, judged ? `Verdicts are judged by ${judged}.` : "Verdicts are judged by the library's own model.")));
}

function renderJobs() {
  const box = document.getElementById("jobs"); if (!box) return;
  // What runs or waits, then the latest few that ended: a day of camera segments must not push the
  // library's files off the page. Failures among the older ones are counted, not hidden.
  const all = [...state.jobs].reverse(), busy = j => j.status === "queued" || j.status === "running";
  const ended = all.filter(j => !busy(j)), older = ended.slice(ENDED_JOBS_SHOWN);
  const jobs = [...all.filter(busy), ...ended.slice(0, ENDED_JOBS_SHOWN)];
  if (!jobs.length) { box.replaceChildren(h("p", { class: "muted small" }, "No jobs: nothing is being indexed, removed or adapted.")); return; }
  const failedOlder = older.filter(j => j.status === "failed").length;
  box.replaceChildren(...jobs.map(j => h("div", { class: "job", dataset: { job: j.id, status: j.status } },
    h("div", {}, h("b", {}, j.name), " ", h("span", { class: "small muted" }, j.kind === "index" ? "" : j.kind), h("div", { class: `small status-${j.status}` }, `${j.status === "running" ? j.phase : j.status}${j.message ? " — " + j.message : ""}`)),
    h("progress", { class: "job-progress", max: 1, value: j.status === "done" ? 1 : j.progress }),
    busy(j)
      ? h("span", { class: "row" }, h("span", { class: "small muted" }, j.status === "running" ? `${Math.round(100 * j.progress)} %` : ""),
          h("button", { class: "cancel", onclick: () => attempt(() => api("POST", `/api/jobs/${j.id}/cancel`)) }, "Cancel"))
      : h("span", { class: "small muted" }, j.status === "done" ? `${Math.round(100 * j.progress)} %` : ""))),
    older.length ? h("p", { class: "small muted", id: "older-jobs" }, `${plural(older.length, "earlier job")} not shown` + (failedOlder ? `, ${failedOlder} of them failed` : "")) : null);
}

// The live preview: each camera's newest frame with the people in it boxed and the watchlist's people
// named (a hint: the alert comes when the segment is indexed), asked for again once the last one
// arrived (a slow link never piles up requests), only while the page is shown; a stopped camera's
// last frame once.
function refreshPreviews() {
  const images = [...document.querySelectorAll("img.camera-preview")];
  if (!images.some(i => i.dataset.live)) { clearInterval(state.previewTimer); state.previewTimer = null; }
  if (document.visibilityState !== "visible") return;
  for (const img of images.filter(i => !i.dataset.loading && (i.dataset.live || !i.src))) {
    img.dataset.loading = "1";
    fetch(`/api/cameras/${img.dataset.camera}/preview?people=true`, { cache: "no-store" }).then(async response => {
      if (!response.ok) return;  // no frame yet: asked again on the next tick
      const people = JSON.parse(response.headers.get("X-Reidkit-People") || "[]");
      const url = URL.createObjectURL(await response.blob());
      if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
      img.src = url; img.classList.remove("hidden");
      const named = people.filter(p => p.person);
      img.parentElement.nextElementSibling?.replaceChildren(
        named.length ? h("b", { class: "live-match" }, "looks like " + named.map(p => `${p.person} (${p.score.toFixed(2)})`).join(", "))
          : people.length ? `${people.length === 1 ? "1 person" : people.length + " people"} in view, nobody on the watchlist` : "nobody in view");
    }).catch(() => {}).finally(() => delete img.dataset.loading);
  }
}

// Stop keeps a recording camera (stopped, its last segment indexed); Start records a stopped, finished or
// failed one again (a video file from its start); Remove forgets it, keeping what it recorded.
function cameraButtons(c) {
  const act = (method, path, done) => attempt(async () => { await api(method, `/api/cameras/${c.id}${path}`); say(done, "info"); await showLibrary(); });
  if (c.status === "recording") {
    return [h("button", { class: "camera-stop", onclick: () => act("POST", "/stop", `${c.name} stopped; its last segment is being indexed.`) }, "Stop")];
  }
  return [
    h("button", { class: "camera-start", onclick: () => act("POST", "/start", `${c.name} is recording again.`) }, c.file && c.status === "finished" ? "Play again" : "Start"),
    h("button", { class: "remove", onclick: () => { if (confirm(`Remove the camera ${c.name}? What it recorded stays in the library.`)) act("DELETE", "", `${c.name} removed; what it recorded stays in the library.`); } }, "Remove"),
  ];
}

function camerasPanel(cameras) {
  // A preview exists only for frames seen since the server started (a camera restored stopped has none).
  const previewed = c => c.status === "recording" || c.last_frame_age !== null;
  if (cameras.some(previewed)) {
    setTimeout(refreshPreviews, 0);  // the panel is in the page by then
    if (!state.previewTimer && cameras.some(c => c.status === "recording")) state.previewTimer = setInterval(refreshPreviews, 1000);
  }
  const name = h("input", { type: "text", id: "camera-name", size: 16, placeholder: "name, e.g. Front door" });
  const source = h("input", { type: "text", id: "camera-source", size: 44, placeholder: "rtsp://user:password@camera/stream, or 0 for a webcam" });
  const seconds = h("input", { type: "number", id: "camera-seconds", min: 1, max: 3600, value: 60, class: "small" });
  const keep = h("input", { type: "number", id: "camera-keep-hours", min: 0.01, step: "any", placeholder: "all", class: "small" });
  const rows = cameras.map(c => h("tr", { dataset: { camera: c.id, status: c.status } },
    h("td", {}, h("b", {}, c.name), h("div", { class: "small muted" }, c.source),
      ...(previewed(c) ? [h("a", { href: `/api/cameras/${c.id}/preview?people=true`, target: "_blank", title: "The newest frame, larger" },
        h("img", { class: "camera-preview hidden", dataset: { camera: c.id, live: c.status === "recording" ? "1" : "" },
          alt: c.status === "recording" ? `${c.name}, live` : `${c.name}, its last frame` })),
        h("div", { class: "small muted camera-people" })] : [])),
    h("td", { class: c.status === "failed" ? "status-failed" : c.status === "recording" ? "status-done" : "" },
      c.status + (c.message ? " — " + c.message : "") + (c.status === "recording" && c.last_frame_age !== null ? ` (last frame ${c.last_frame_age} s ago)` : "")),
    h("td", {}, `${plural(c.segments, "segment")} of ${c.segment_seconds} s` + (c.keep_hours ? `, kept ${c.keep_hours} h` : "")),
    h("td", {}, h("span", { class: "row" }, ...cameraButtons(c)))));
  return h("section", { class: "panel", id: "cameras-panel" }, h("h1", {}, "Cameras"),
    h("p", { class: "small muted" }, "Each camera is recorded into segments; every finished segment is indexed, searched for the watchlist's people (alerts) and can be played back."),
    h("p", { class: "row" }, name, source, h("label", { class: "small muted" }, "segment, s ", seconds), h("label", { class: "small muted" }, "keep, hours ", keep),
      h("button", { id: "add-camera-button", class: "primary", onclick: () => attempt(async () => {
        // As typed: the server says what range a segment may have (an empty box: its default).
        const body = { name: name.value, source: source.value };
        if (seconds.value !== "") body.segment_seconds = Number(seconds.value);
        if (keep.value) body.keep_hours = Number(keep.value);
        const camera = await api("POST", "/api/cameras", body);
        say(`Recording ${camera.name}; the first segment is indexed after ${camera.segment_seconds} s.`, "info");
        name.value = source.value = keep.value = ""; seconds.value = 60;  // added: the form is empty again
        await showLibrary();
      }) }, "Add camera")),
    cameras.length ? h("table", { id: "cameras-table" }, h("tr", {}, ...["camera", "status", "recorded", ""].map(t => h("th", {}, t))), ...rows)
      : h("p", { class: "muted small" }, "No cameras."));
}

async function showLibrary() {
  const data = await attempt(() => api("GET", "/api/library"), true);
  if (!data) return;
  const cameras = (await attempt(() => api("GET", "/api/cameras"), true)) || [];
  state.media = data.media; state.jobs = data.jobs;
  // A name the library holds twice (two cameras' 000001.jpg) is shown with its folder.
  const counted = data.media.reduce((n, m) => n.set(m.name, (n.get(m.name) || 0) + 1), new Map());
  const label = m => counted.get(m.name) > 1 ? `${m.folder}/${m.name}` : m.name;
  const rows = data.media.map(m => h("tr", { dataset: { media: m.id } },
    h("td", {}, m.video_url ? h("a", { href: m.video_url, target: "_blank" }, label(m)) : label(m), m.available ? null : h("span", { class: "small status-failed" }, " (file missing)")),
    h("td", {}, m.kind), h("td", {}, m.kind === "video" ? time(m.duration) : "—"), h("td", {}, m.people), h("td", {}, m.tracklets),
    h("td", { class: m.status === "indexed" ? "status-done" : "status-failed" }, m.status),
    h("td", {}, h("button", { class: "remove", title: "Remove from the library", onclick: () => attempt(async () => {
      if (!confirm(`Remove ${label(m)} and the people found in it from the library?`)) return;
      await api("DELETE", `/api/library/media/${m.id}`); say(`Removing ${label(m)}…`, "info"); })}, "Remove"))));
  // The page redraws whenever a job ends: what the user was typing (a camera's URL, a path) stays.
  const typed = [...view().querySelectorAll("input[id]:not([type=file])")].map(i => [i.id, i.value, document.activeElement === i]);
  view().replaceChildren(addMediaPanel(), camerasPanel(cameras), jobsPanel(), adaptPanel(),
    h("section", { class: "panel" }, h("h1", {}, "Indexed files"),
      data.media.length ? h("table", { id: "media-table" }, h("tr", {}, ...["file", "kind", "duration", "people", "tracklets", "status", ""].map(t => h("th", {}, t))), ...rows)
        : h("p", { class: "muted" }, "No files yet.")));
  for (const [id, value, focused] of typed) {
    const input = document.getElementById(id);
    if (!input) continue;
    input.value = value;
    if (focused) input.focus();
  }
  renderJobs();
}

function listenToJobs() {
  if (state.events) return;
  state.events = new EventSource("/api/events");
  state.events.addEventListener("jobs", e => {
    const before = new Map(state.jobs.map(j => [j.id, j.status]));
    state.jobs = JSON.parse(e.data);
    renderJobs();
    // A job this page never saw running counts too: a quick removal can be done before its first event.
    const finished = state.jobs.some(j => j.status !== "queued" && j.status !== "running" && before.get(j.id) !== j.status);
    if (finished) {
      refreshStatus().then(() => {
        if (location.hash.startsWith("#/library")) showLibrary();
        else if (!location.hash || location.hash === "#/") showHome();
        // A file added or removed (here or in another tab) changes the answer: search again, keeping
        // the slider and the player as they are.
        else if (location.hash.startsWith("#/q/") && state.queryId) showResults(state.queryId, true);
      });
    }
  });
}

// -------------------------------------------------------------------------------------- watchlist
async function showWatchlist() {
  const people = await attempt(() => api("GET", "/api/watchlist"));
  if (!people) return;
  view().replaceChildren(h("section", { class: "panel" }, h("h1", {}, "Watchlist"),
    h("p", { class: "muted" }, "People you saved from a search. When new media is indexed, the ones found in it are listed under Alerts."),
    people.length ? h("div", { class: "people", id: "watchlist" }, ...people.map(p => {
      const name = h("input", { type: "text", value: p.name, size: 12, class: "rename-input" });
      return h("div", { class: "tile", dataset: { person: p.id } }, p.photos[0] ? h("img", { src: p.photos[0], alt: p.name }) : null,
        h("div", { class: "label" }, h("b", {}, p.name), plural(p.confirmed.length, "confirmed moment"),
          h("div", { class: "row" }, name),
          h("div", { class: "row" },
            h("button", { onclick: () => attempt(async () => { await api("PATCH", `/api/watchlist/${p.id}`, { name: name.value }); showWatchlist(); }) }, "Rename"),
            h("button", { onclick: () => attempt(async () => { const q = await api("POST", "/api/queries", { person_id: p.id }); location.hash = "#/q/" + q.query_id; }) }, "Search"),
            h("button", { onclick: () => attempt(async () => { if (!confirm(`Delete ${p.name}?`)) return; await api("DELETE", `/api/watchlist/${p.id}`); showWatchlist(); }) }, "Delete"))));
    })) : h("p", { class: "empty" }, "Nobody saved yet: search for a person, then “Save person”.")));
}

async function showAlerts() {
  const alerts = await attempt(() => api("GET", "/api/alerts"));
  if (!alerts) return;
  localStorage.setItem("reidkit-alerts-seen", String(Math.max(0, ...alerts.map(a => a.created))));
  document.getElementById("alert-count").hidden = true;
  // "Show" searches for the person: their moments, this file's among them, ready to play.
  const show = a => attempt(async () => {
    const q = await api("POST", "/api/queries", { person_id: a.person_id });
    location.hash = "#/q/" + q.query_id;
  });
  view().replaceChildren(h("section", { class: "panel" }, h("h1", {}, "Alerts"),
    alerts.length ? h("table", { id: "alerts" }, h("tr", {}, ...["person", "found in", "moments", "first at", "recorded", "best score", "alerted", ""].map(t => h("th", {}, t))),
      ...alerts.map(a => h("tr", {}, h("td", {}, h("b", {}, a.person)), h("td", {}, a.media), h("td", {}, a.moments), h("td", {}, time(a.start)),
        h("td", { class: "clock" }, clock(a.recorded_start) || "–"), h("td", {}, a.best_score.toFixed(3)), h("td", {}, new Date(a.created * 1000).toLocaleString()),
        h("td", {}, h("button", { class: "show-alert", title: `Search for ${a.person} and play the moments`, onclick: () => show(a) }, "Show")))))
      : h("p", { class: "empty" }, "No alerts. Saved people found in newly indexed media show up here.")));
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => { listenToJobs(); route(); });
